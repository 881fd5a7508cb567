/** The kubernetes default deny through RoutePolicy and the path normaliser, as a request meets them. */
import { describe, expect, it } from "vitest";
import { normalizePath } from "../../../../src/routing/normalize-path.js";
import { RoutePolicy } from "../../../../src/routing/policy.js";
import { DEFAULT_DENY } from "../../../../src/upstreams/kubernetes/default-deny.js";

const policy = new RoutePolicy("/k8s", { deny: DEFAULT_DENY });

/** What the pipeline does: normalise, then check; a refused path is a refusal too. */
function verdict(raw: string, method = "GET"): "allowed" | "denied" | "bad" {
  let path: string;
  try {
    path = normalizePath(raw);
  } catch {
    return "bad";
  }
  try {
    policy.check(method, path);
    return "allowed";
  } catch {
    return "denied";
  }
}

const P = "/api/v1/namespaces/team-a/pods/web-7f9c";

describe("default deny", () => {
  it.each([
    `${P}/exec`,
    `${P}/attach`,
    `${P}/portforward`,
    `${P}/exec/`,
    `${P}/exec;jsessionid=1`,
    `${P}/exec.`,
    `${P}/exec.json`,
    `${P}/eXeC`,
    `${P}/ATTACH`,
    `${P}/portForward`,
    `${P}/%65xec`,
    `${P}/%45%58%45%43`,
    `${P}/%2565xec`,
    `${P}//exec`,
    `${P}/./exec`,
    `${P}/x/../exec`,
    `/api/v1/namespaces/team-a/pods/x/../web-7f9c/exec`,
    `/api/v1/pods/web/exec`,
    `/api/v1/namespaces/team-a/pods/web/exec/extra`,
    `/k8s/api/v1/namespaces/team-a/pods/web/exec`,
    `/api/v1/nodes/node-1/proxy/exec/team-a/web/app`,
    `/api/v1/nodes/node-1/proxy/attach/team-a/web/app`,
    `/api/v1/nodes/node-1/proxy/portForward/team-a/web`,
    `/api/v1/nodes/node-1/proxy/run/team-a/web/app`,
    `/api/v1/nodes/node-1/proxy/metrics`,
    `/api/v1/nodes/node-1/proxy`,
    `/api/v1/namespaces/team-a/pods/web:8080/proxy/admin`,
    `/api/v1/namespaces/team-a/services/https:web:443/proxy/`,
  ])("denies %s", (path) => {
    expect(verdict(path)).toBe("denied");
    expect(verdict(path, "POST")).toBe("denied");
  });

  it.each([`${P}%2Fexec`, `${P}/exec%2F`, `${P}/%2E/exec`, `${P}/..;/exec`, `${P}\\exec`])("refuses %s as malformed", (path) => {
    expect(verdict(path)).toBe("bad");
  });

  it.each([
    `${P}`,
    `${P}/log`,
    `${P}/status`,
    `${P}/ephemeralcontainers`,
    `/api/v1/namespaces/team-a/pods`,
    `/api/v1/namespaces/team-a/pods/exec`,
    `/api/v1/namespaces/team-a/pods/exec/log`,
    `/api/v1/namespaces/team-a/pods/web/executions`,
    `/api/v1/namespaces/team-a/configmaps/exec`,
    `/api/v1/namespaces/team-a/services/proxy`,
    `/api/v1/namespaces/team-a/pods/web/proxyish`,
    `/apis/apps/v1/namespaces/team-a/deployments/exec`,
    `/api/v1/namespaces/team-a/pods?fieldSelector=metadata.name=exec`,
  ])("allows %s", (path) => {
    expect(verdict(path.split("?")[0]!)).toBe("allowed");
  });

  it("is frozen: a route cannot mutate the shared default", () => {
    expect(Object.isFrozen(DEFAULT_DENY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_DENY[0])).toBe(true);
  });
});
