/** AttacheError → Kubernetes Status: every attache error code has a reason, and the shape client libraries parse. */
import { describe, expect, it } from "vitest";
import { AttacheError, ERRORS, type ErrorCode } from "../../../../src/errors.js";
import { renderStatus, toStatus } from "../../../../src/upstreams/kubernetes/status-response.js";

describe("Status objects", () => {
  it("carry kind, apiVersion, status, code, reason and message", () => {
    const err = new AttacheError("path_denied", "route /k8s: GET /x is denied by policy", { route: "/k8s" });
    expect(toStatus(err)).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "route /k8s: GET /x is denied by policy",
      reason: "Forbidden",
      code: 403,
    });
    const rendered = renderStatus(err, "custom message");
    expect(rendered.contentType).toBe("application/json");
    expect(JSON.parse(rendered.body)).toMatchObject({ message: "custom message", code: 403 });
  });

  it.each(Object.keys(ERRORS) as ErrorCode[])("%s maps to a Kubernetes reason and its own status", (code) => {
    const status = toStatus(new AttacheError(code, "m"));
    expect(status.code).toBe(ERRORS[code].status);
    expect(status.reason).toMatch(/^[A-Z][A-Za-z]+$/);
  });

  it("uses the Kubernetes constants where they exist", () => {
    const reason = (code: ErrorCode) => toStatus(new AttacheError(code, "m")).reason;
    expect(reason("upstream_timeout")).toBe("Timeout");
    expect(reason("circuit_open")).toBe("ServiceUnavailable");
    expect(reason("method_not_allowed")).toBe("MethodNotAllowed");
    expect(reason("body_too_large")).toBe("RequestEntityTooLarge");
    expect(reason("bad_request")).toBe("BadRequest");
  });

  it("puts Retry-After into details.retryAfterSeconds, as the API server does", () => {
    const status = toStatus(new AttacheError("circuit_open", "open", { retryAfter: 8 }));
    expect(status.details).toEqual({ retryAfterSeconds: 8 });
  });
});
