/**
 * The kubernetes upstream's default `deny`, as kubectl proxy's `--reject-paths` (exec, attach) plus
 * portforward: the subresources that hand the app a shell or a tunnel into another pod.
 *
 * A route that sets `deny` itself replaces this list (that is how it is lifted: `deny: []`).
 * The rules see the normalised path after the prefix (routing/normalize-path.ts has already decoded
 * %-escapes of unreserved characters, collapsed "//", resolved dot segments and refused encoded "/"),
 * and RoutePolicy matches deny rules case-insensitively. They are unanchored at the start, so they hold
 * with `stripPrefix: false` and under /api/v1/namespaces/NS/... and the legacy /api/v1/pods/... alike,
 * and they end on anything but a name character, so `exec/`, `exec;x` and `exec.json` are denied too.
 */
import type { PathRuleConfig } from "../../config/schema.js";

const END = String.raw`(?:$|[^A-Za-z0-9_-])`;

export const DEFAULT_DENY: readonly PathRuleConfig[] = Object.freeze([
  Object.freeze({ path: String.raw`(?:^|/)pods/[^/]+/(?:exec|attach|portforward)${END}` }),
  // The same powers through the kubelet's API, proxied by the API server (nodes/NAME/proxy/exec/NS/POD/C).
  Object.freeze({ path: String.raw`(?:^|/)nodes/[^/]+/proxy/(?:exec|attach|portforward|run)${END}` }),
]);
