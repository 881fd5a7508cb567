import { describe, expect, it } from "vitest";
import type { AttacheError } from "../../../src/errors.js";
import { RoutePolicy } from "../../../src/routing/policy.js";

function outcome(policy: RoutePolicy, method: string, path: string): string {
  try {
    policy.check(method, path);
    return "ok";
  } catch (err) {
    return (err as AttacheError).code;
  }
}

describe("RoutePolicy", () => {
  it("allows everything when nothing is configured", () => {
    const p = new RoutePolicy("/r", {});
    expect(outcome(p, "DELETE", "/anything")).toBe("ok");
    expect(p.allowedMethods).toBeUndefined();
  });

  it("refuses methods outside `methods` with method_not_allowed and names the allowed ones", () => {
    const p = new RoutePolicy("/r", { methods: ["GET", "HEAD"] });
    expect(outcome(p, "GET", "/x")).toBe("ok");
    expect(outcome(p, "POST", "/x")).toBe("method_not_allowed");
    expect(p.allowedMethods).toBe("GET, HEAD");
  });

  it("deny wins over allow; allow lists what is reachable", () => {
    const p = new RoutePolicy("/r", { allow: [{ path: "^/public(/|$)" }, { path: "^/api/" }], deny: [{ path: "^/api/admin" }] });
    expect(outcome(p, "GET", "/public/a")).toBe("ok");
    expect(outcome(p, "GET", "/api/users")).toBe("ok");
    expect(outcome(p, "GET", "/api/admin/x")).toBe("path_denied");
    expect(outcome(p, "GET", "/private")).toBe("path_denied");
  });

  it("applies a rule's methods only to those methods", () => {
    const p = new RoutePolicy("/r", { deny: [{ path: "^/items", methods: ["DELETE"] }] });
    expect(outcome(p, "GET", "/items/1")).toBe("ok");
    expect(outcome(p, "DELETE", "/items/1")).toBe("path_denied");
  });

  it("denies case-insensitively, but allows only the exact case", () => {
    const p = new RoutePolicy("/r", { allow: [{ path: "^/public" }], deny: [{ path: "exec$" }] });
    expect(outcome(p, "GET", "/public/EXEC")).toBe("path_denied");
    expect(outcome(p, "GET", "/PUBLIC/x")).toBe("path_denied");
  });

  it.each([
    "/pods/p/exec/",
    "/pods/p/exec.",
    "/pods/p/exec;x=1",
    "/pods/p/exec%2500",
    "/pods/p/ex%2565c",
    "/pods/p%252Fexec",
    "/pods/p/exec%253F",
  ])("deny `/pods/[^/]+/exec$` also refuses %s", (path) => {
    const p = new RoutePolicy("/r", { deny: [{ path: "^/pods/[^/]+/exec$" }] });
    expect(outcome(p, "POST", path)).toBe("path_denied");
  });

  it("leniency never widens an allow rule", () => {
    const p = new RoutePolicy("/r", { allow: [{ path: "^/public$" }] });
    expect(outcome(p, "GET", "/public")).toBe("ok");
    expect(outcome(p, "GET", "/public/")).toBe("path_denied");
    expect(outcome(p, "GET", "/public;x")).toBe("path_denied");
  });
});
