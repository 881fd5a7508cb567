/**
 * Is this error answer a `Status` the API server wrote? Then the server spoke: an aggregated API that is
 * down, a webhook that failed, etcd slow for one request. That is its verdict on this request, not the
 * route's health (resilience/classify.ts, Verdict). A load balancer's 502 page is not a Status and counts.
 */
import type { IncomingHttpHeaders } from "node:http";

/** k8s.io/apimachinery protobuf envelope: "k8s\0", then runtime.Unknown whose field 1 is TypeMeta. */
const PROTOBUF_MAGIC = Buffer.from("k8s\0", "latin1");

export function isRelayedStatus(headers: IncomingHttpHeaders, start: Buffer): boolean {
  // An encoded body (gzip) is not read here: the API server compresses only large responses, never a Status.
  if (headers["content-encoding"] && headers["content-encoding"] !== "identity") return false;
  const type = String(headers["content-type"] ?? "").toLowerCase();
  if (type.startsWith("application/json")) return isJsonStatus(start);
  if (type.startsWith("application/vnd.kubernetes.protobuf")) return protobufKind(start) === "Status";
  return false;
}

function isJsonStatus(body: Buffer): boolean {
  try {
    const value = JSON.parse(body.toString("utf8")) as { kind?: unknown; code?: unknown } | null;
    return value !== null && value.kind === "Status" && typeof value.code === "number";
  } catch {
    return false;
  }
}

/** The `kind` of a protobuf-encoded object, read from its TypeMeta; undefined when the bytes are not one. */
function protobufKind(body: Buffer): string | undefined {
  if (body.length < 6 || !body.subarray(0, 4).equals(PROTOBUF_MAGIC) || body[4] !== 0x0a) return undefined;
  const meta = lengthDelimited(body, 5);
  if (!meta) return undefined;
  // TypeMeta: field 1 apiVersion, field 2 kind, both strings.
  for (let at = meta.start; at < meta.end; ) {
    const tag = body[at];
    const field = lengthDelimited(body, at + 1);
    if (!field || field.end > meta.end) return undefined;
    if (tag === 0x12) return body.toString("utf8", field.start, field.end);
    if (tag !== 0x0a) return undefined;
    at = field.end;
  }
  return undefined;
}

/** A varint length at `at`, then that many bytes: where they start and end (within `body`). */
function lengthDelimited(body: Buffer, at: number): { start: number; end: number } | undefined {
  let length = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const byte = body[at++];
    if (byte === undefined) return undefined;
    length |= (byte & 0x7f) << shift;
    if (byte < 0x80) return at + length <= body.length ? { start: at, end: at + length } : undefined;
  }
  return undefined;
}
