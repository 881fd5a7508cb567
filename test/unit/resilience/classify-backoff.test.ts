import { describe, expect, it } from "vitest";
import { backoffDelay, parseRetryAfter, reconnectDelay } from "../../../src/resilience/backoff.js";
import { classifyError, classifyStatus, isFailure, retryCovers } from "../../../src/resilience/classify.js";

describe("classify", () => {
  it.each([
    ["ECONNREFUSED", "connect-failure"],
    ["ENOTFOUND", "connect-failure"],
    ["ECONNECT_TIMEOUT", "connect-failure"],
    ["ENOENDPOINT", "connect-failure"],
    ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "connect-failure"],
    ["ECONNRESET", "reset"],
    ["EPIPE", "reset"],
    ["EDEADLINE", "timeout"],
    ["ERR_CLIENT_GONE", undefined],
    ["body_too_large", undefined],
  ])("%s → %s", (code, kind) => {
    expect(classifyError(Object.assign(new Error("x"), { code }))).toBe(kind);
  });

  it("5xx is a failure, 4xx (429 included) is not, but keeps its status for retry", () => {
    expect(classifyStatus(200)).toBe("success");
    expect(classifyStatus(304)).toBe("success");
    expect(classifyStatus(404)).toBe(404);
    expect(classifyStatus(429)).toBe(429);
    expect(isFailure(classifyStatus(429))).toBe(false);
    expect(isFailure(classifyStatus(404))).toBe(false);
    expect(isFailure(classifyStatus(500))).toBe(true);
    expect(isFailure("reset")).toBe(true);
    expect(isFailure("success")).toBe(false);
  });

  it("a verdict (the upstream's Status on one request) is never a failure, and retry still sees its status", () => {
    const verdict = classifyStatus(503, true);
    expect(verdict).toEqual({ verdict: 503 });
    expect(classifyStatus(503, true)).toBe(verdict);
    expect(isFailure(verdict)).toBe(false);
    expect(retryCovers([503], verdict)).toBe(true);
    expect(retryCovers(["5xx"], classifyStatus(500, true))).toBe(true);
    expect(retryCovers([502], verdict)).toBe(false);
  });

  it("retryCovers reads `on`: kinds, exact statuses (4xx too), and 5xx", () => {
    expect(retryCovers(["reset"], "reset")).toBe(true);
    expect(retryCovers([503], 503)).toBe(true);
    expect(retryCovers([503], 502)).toBe(false);
    expect(retryCovers(["5xx"], 502)).toBe(true);
    expect(retryCovers(["5xx"], 429)).toBe(false);
    expect(retryCovers([429], classifyStatus(429))).toBe(true);
    expect(retryCovers(["5xx"], "success")).toBe(false);
  });
});

describe("backoff", () => {
  it("is exponential with full jitter, capped by maxBackoff", () => {
    expect(backoffDelay(1, 50, 1000, () => 0.999)).toBe(49);
    expect(backoffDelay(3, 50, 1000, () => 0.999)).toBe(199);
    expect(backoffDelay(10, 50, 1000, () => 0.999)).toBe(999);
    expect(backoffDelay(3, 50, 1000, () => 0)).toBe(0);
  });

  it("reconnectDelay never goes below base: the first retry is exactly base, later ones spread up to the cap", () => {
    expect(reconnectDelay(1, 250, 30_000, () => 0)).toBe(250);
    expect(reconnectDelay(1, 250, 30_000, () => 0.999)).toBe(250);
    expect(reconnectDelay(2, 250, 30_000, () => 0.999)).toBe(499);
    expect(reconnectDelay(20, 250, 30_000, () => 0.999)).toBe(29_970);
    expect(reconnectDelay(20, 250, 30_000, () => 0)).toBe(250);
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    const now = Date.parse("2030-01-01T00:00:00Z");
    expect(parseRetryAfter("Tue, 01 Jan 2030 00:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Tue, 01 Jan 2029 00:00:05 GMT", now)).toBe(0);
  });
});
