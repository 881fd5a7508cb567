/**
 * The built-in part of the kubernetes deny floor, as kubectl proxy's `--reject-paths` (exec, attach)
 * plus portforward and proxy: the subresources that hand the app a shell, a tunnel into another pod,
 * or the API server as an HTTP proxy to pods, services and the kubelet.
 *
 * The root file's `kubernetes.deny` is added to it (config/grants/kubernetes.ts). A route without `deny` gets
 * that floor; a route in the root file (or in a team file whose grant allows it) replaces it by
 * setting `deny` (that is how it is lifted: `deny: []`); any other team route only adds rules.
 * The rules see the normalised path after the prefix (routing/normalize-path.ts has already decoded
 * %-escapes of unreserved characters, collapsed "//", resolved dot segments and refused encoded "/"),
 * and RoutePolicy matches deny rules case-insensitively. They are unanchored at the start, so they hold
 * with `stripPrefix: false` and under /api/v1/namespaces/NS/... and the legacy /api/v1/pods/... alike,
 * and they end on anything but a name character, so `exec/`, `exec;x` and `exec.json` are denied too.
 */
import type { PathRuleConfig } from "../../config/schema.js";

const END = "(?:$|[^A-Za-z0-9_-])";

export const DEFAULT_DENY: readonly PathRuleConfig[] = Object.freeze([
  Object.freeze({ path: `(?:^|/)pods/[^/]+/(?:exec|attach|portforward)${END}` }),
  // The API server as a proxy: to any port of a pod or service, and to the kubelet's API (nodes/NAME/proxy/exec/NS/POD/C).
  Object.freeze({ path: `(?:^|/)(?:pods|services|nodes)/[^/]+/proxy${END}` }),
]);
