import { describe, expect, it } from "vitest";
import { AttacheError, ERRORS, toAttacheError } from "../../../src/errors.js";

describe("the error table", () => {
  it("maps each code to its status", () => {
    expect(Object.fromEntries(Object.entries(ERRORS).map(([code, { status }]) => [code, status]))).toEqual({
      no_route: 404,
      host_not_allowed: 403,
      method_not_allowed: 405,
      path_denied: 403,
      command_not_allowed: 403,
      body_too_large: 413,
      bad_request: 400,
      request_timeout: 408,
      headers_too_large: 431,
      origin_not_allowed: 403,
      upstream_unreachable: 502,
      circuit_open: 503,
      overloaded: 503,
      upstream_timeout: 504,
    });
  });
});

describe("toAttacheError", () => {
  it("keeps ours as they are", () => {
    const ours = new AttacheError("overloaded", "busy", { route: "/r" });
    expect(toAttacheError(ours)).toBe(ours);
  });

  it("maps deadlines to upstream_timeout and network failures to upstream_unreachable, keeping the cause", () => {
    const deadline = Object.assign(new Error("late"), { code: "EDEADLINE" });
    expect(toAttacheError(deadline, "/r")).toMatchObject({ code: "upstream_timeout", status: 504, route: "/r", cause: deadline });
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:80"), { code: "ECONNREFUSED" });
    const mapped = toAttacheError(refused, "/r");
    expect(mapped).toMatchObject({ code: "upstream_unreachable", status: 502, cause: refused });
    expect(mapped.message).toBe("route /r: upstream unreachable (ECONNREFUSED)");
  });

  it("never passes a foreign message on to the client", () => {
    const bug = new Error("ENOENT: no such file or directory, open '/var/run/secrets/token'");
    const mapped = toAttacheError(bug, "/r");
    expect(mapped.code).toBe("upstream_unreachable");
    expect(mapped.message).not.toContain("/var/run");
  });
});
