import { describe, expect, it } from "vitest";
import { isRelayedStatus } from "../../../../src/upstreams/kubernetes/relayed-status.js";

const json = { "content-type": "application/json" };
const protobuf = { "content-type": "application/vnd.kubernetes.protobuf" };

/** "k8s\0" + runtime.Unknown{ typeMeta: { apiVersion, kind }, raw } as the API server encodes it. */
function encoded(apiVersion: string, kind: string): Buffer {
  const field = (tag: number, bytes: Buffer) => Buffer.concat([Buffer.from([tag, bytes.length]), bytes]);
  const typeMeta = Buffer.concat([field(0x0a, Buffer.from(apiVersion)), field(0x12, Buffer.from(kind))]);
  return Buffer.concat([Buffer.from("k8s\0", "latin1"), field(0x0a, typeMeta), field(0x12, Buffer.from([0x08, 0x01]))]);
}

describe("isRelayedStatus", () => {
  it("a JSON Status is the API server's", () => {
    expect(
      isRelayedStatus(json, Buffer.from('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}')),
    ).toBe(true);
    expect(isRelayedStatus({ "content-type": "application/json; charset=utf-8" }, Buffer.from('{"kind":"Status","code":500}'))).toBe(true);
  });

  it("a protobuf Status is too", () => {
    expect(isRelayedStatus(protobuf, encoded("v1", "Status"))).toBe(true);
    expect(isRelayedStatus(protobuf, encoded("v1", "Pod"))).toBe(false);
    expect(isRelayedStatus(protobuf, encoded("v1", "Status").subarray(0, 9))).toBe(false);
  });

  it("anything else is not: a gateway's page, other JSON, a truncated body, an encoded body", () => {
    expect(isRelayedStatus({ "content-type": "text/html" }, Buffer.from("<html>502 Bad Gateway</html>"))).toBe(false);
    expect(isRelayedStatus({}, Buffer.from('{"kind":"Status","code":503}'))).toBe(false);
    expect(isRelayedStatus(json, Buffer.from('{"error":"bad gateway"}'))).toBe(false);
    expect(isRelayedStatus(json, Buffer.from('{"kind":"Status","co'))).toBe(false);
    expect(isRelayedStatus(json, Buffer.from("null"))).toBe(false);
    expect(isRelayedStatus({ ...json, "content-encoding": "gzip" }, Buffer.from('{"kind":"Status","code":503}'))).toBe(false);
  });
});
