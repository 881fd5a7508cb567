import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { afterFirstResolution } from "../../../src/upstreams/http/after-first-resolution.js";
import type { EndpointSource } from "../../../src/discovery/endpoint-source.js";
import { EndpointSet, diffEndpoints, endpointForAddress } from "../../../src/discovery/endpoint-set.js";
import type { RequestContext, Upstream } from "../../../src/upstreams/upstream.js";

const e = (host: string, port = 8080) => endpointForAddress("http:", host, port);

describe("endpointForAddress", () => {
  it("brackets IPv6 literals in the id and keeps the bare address as host", () => {
    expect(e("fd00::1")).toMatchObject({ id: "http://[fd00::1]:8080", host: "fd00::1", port: 8080, basePath: "" });
    expect(e("10.0.0.1", 80).id).toBe("http://10.0.0.1");
    expect(endpointForAddress("https:", "10.0.0.1", 443).id).toBe("https://10.0.0.1");
  });
});

describe("EndpointSet", () => {
  it("reports the first set as a change, even when empty, and stamps changedAt", () => {
    const set = new EndpointSet();
    expect(set.changedAt).toBeUndefined();
    expect(set.replace([])).toEqual({ added: [], removed: [], kept: [] });
    expect(set.changedAt).toBeInstanceOf(Date);
  });

  it("ignores order and duplicates: the same set is no change", () => {
    const set = new EndpointSet();
    set.replace([e("10.0.0.2"), e("10.0.0.1")]);
    const stamp = set.changedAt;
    expect(set.replace([e("10.0.0.1"), e("10.0.0.2"), e("10.0.0.1")])).toBeUndefined();
    expect(set.changedAt).toBe(stamp);
    expect(set.current.map((x) => x.id)).toEqual(["http://10.0.0.1:8080", "http://10.0.0.2:8080"]);
    expect(Object.isFrozen(set.current)).toBe(true);
  });

  it("returns added, removed and kept by id", () => {
    const set = new EndpointSet();
    set.replace([e("10.0.0.1"), e("10.0.0.2")]);
    const diff = set.replace([e("10.0.0.2"), e("10.0.0.3")])!;
    expect(diff.added.map((x) => x.id)).toEqual(["http://10.0.0.3:8080"]);
    expect(diff.removed.map((x) => x.id)).toEqual(["http://10.0.0.1:8080"]);
    expect(diff.kept.map((x) => x.id)).toEqual(["http://10.0.0.2:8080"]);
  });

  it("treats a port change as a different endpoint", () => {
    expect(diffEndpoints([e("10.0.0.1", 8080)], [e("10.0.0.1", 8081)])).toMatchObject({
      added: [{ port: 8081 }],
      removed: [{ port: 8080 }],
      kept: [],
    });
  });
});

describe("afterFirstResolution", () => {
  function stubSource(): EndpointSource & { finish(ok: boolean): void } {
    let finish!: (ok: boolean) => void;
    const started = new Promise<void>((resolve, reject) => (finish = (ok) => (ok ? resolve() : reject(new Error("boom")))));
    return Object.assign(new EventEmitter(), {
      kind: "stub",
      start: () => started,
      endpoints: () => [],
      describe: () => ({ source: "stub" }),
      close: () => {},
      finish,
    });
  }
  function stubUpstream(calls: string[]): Upstream {
    return {
      kind: "http",
      handle: async () => void calls.push("handle"),
      readiness: async () => {},
      describe: () => ({ inner: true }),
      close: async () => void calls.push("close"),
    };
  }

  it("holds requests until the source's first attempt settles, then passes everything through", async () => {
    const source = stubSource();
    const calls: string[] = [];
    const gated = afterFirstResolution(stubUpstream(calls), source);
    const pending = gated.handle({} as RequestContext);
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toEqual([]);
    source.finish(true);
    await pending;
    expect(calls).toEqual(["handle"]);
    expect(gated.describe()).toEqual({ inner: true });
    expect(gated.upgrade).toBeUndefined();
    await gated.close();
    expect(calls).toEqual(["handle", "close"]);
  });

  it("lets requests through when the first attempt failed (they meet no endpoint, not a hang)", async () => {
    const source = stubSource();
    const calls: string[] = [];
    const gated = afterFirstResolution(stubUpstream(calls), source);
    source.finish(false);
    await gated.handle({} as RequestContext);
    expect(calls).toEqual(["handle"]);
  });
});
