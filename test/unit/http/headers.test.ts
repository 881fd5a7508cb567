import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientResponseHeaders, compileHeaderEdits, upstreamRequestHeaders } from "../../../src/http/headers.js";

function req(headers: Record<string, string | string[]>): IncomingMessage {
  return { headers, socket: { remoteAddress: "127.0.0.1" } } as unknown as IncomingMessage;
}
const route = (set: Array<[string, string]> = [], remove: string[] = []) => ({
  headerEdits: compileHeaderEdits(Object.fromEntries(set), remove),
});

describe("upstreamRequestHeaders", () => {
  it("drops hop-by-hop headers and those named in Connection", () => {
    const out = upstreamRequestHeaders(
      req({
        connection: "Keep-Alive, X-Named",
        "keep-alive": "timeout=5",
        "x-named": "1",
        te: "trailers",
        upgrade: "h2c",
        "transfer-encoding": "chunked",
        "proxy-authorization": "x",
        "http2-settings": "AAMAAABkAAQAAP__",
        "x-kept": "yes",
        host: "localhost:8001",
      }),
      route(),
      "rid",
    );
    expect(Object.keys(out).sort()).toEqual(["host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-kept", "x-request-id"]);
  });

  it("keeps Connection: upgrade and Upgrade for upgrade requests", () => {
    const out = upstreamRequestHeaders(
      req({ connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": "k" }),
      route(),
      "rid",
      true,
    );
    expect(out).toMatchObject({ connection: "upgrade", upgrade: "websocket", "sec-websocket-key": "k" });
  });

  it("sets x-forwarded-for (never appends to the app's), proto, host and the request id", () => {
    const out = upstreamRequestHeaders(
      req({ "x-forwarded-for": "10.0.0.9", host: "localhost:8001", "x-request-id": "other" }),
      route(),
      "rid-1",
    );
    expect(out).toMatchObject({
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "localhost:8001",
      "x-request-id": "rid-1",
    });
  });

  it("applies the route's remove, then set, whatever the case they were written in", () => {
    const out = upstreamRequestHeaders(req({ "x-a": "1", "x-b": "2" }), route([["X-B", "route"]], ["X-A", "x-b"]), "rid");
    expect(out["x-a"]).toBeUndefined();
    expect(out["x-b"]).toBe("route");
  });

  it("removes every header a Prefix-* pattern covers, and only those", () => {
    const out = upstreamRequestHeaders(
      req({
        "impersonate-user": "system:admin",
        "impersonate-group": ["system:masters"],
        "impersonate-extra-scopes": "x",
        "impersonate-uid": "1",
        "x-remote-user": "root",
        impersonator: "kept",
        "x-impersonate-user": "kept",
      }),
      route([], ["Impersonate-*", "X-Remote-*"]),
      "rid",
    );
    expect(
      Object.keys(out)
        .filter((k) => /impersonat|remote/.test(k))
        .sort(),
    ).toEqual(["impersonator", "x-impersonate-user"]);
  });

  it("a pattern covering attache's own headers removes them too; regex characters in a prefix are literal", () => {
    const out = upstreamRequestHeaders(
      req({ "x-forwarded-for": "10.0.0.9", "x.y-1": "a", "xzy-1": "b" }),
      route([], ["X-Forwarded-*", "x.y-*"]),
      "rid",
    );
    expect(out["x-forwarded-for"]).toBeUndefined();
    expect(out["x-forwarded-proto"]).toBeUndefined();
    expect(out["x.y-1"]).toBeUndefined();
    expect(out["xzy-1"]).toBe("b");
    expect(out["x-request-id"]).toBe("rid");
  });
});

describe("clientResponseHeaders", () => {
  it("drops hop-by-hop response headers and echoes the request id", () => {
    const out = clientResponseHeaders(
      {
        connection: "close",
        "transfer-encoding": "chunked",
        "keep-alive": "timeout=5",
        "content-type": "text/plain",
        "set-cookie": ["a=1", "b=2"],
      },
      "rid",
    );
    expect(out).toEqual({ "content-type": "text/plain", "set-cookie": ["a=1", "b=2"], "x-request-id": "rid" });
  });
});
