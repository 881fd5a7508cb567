/**
 * OpenTelemetry tracing on the real binary, configured only by the standard OTEL_* variables, with a
 * real OTLP/HTTP receiver that decodes what the official exporter sends.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { tempConfig } from "../harness/attache.js";
import { eventually, send } from "../harness/http.js";
import { closeServer, listenOn } from "../harness/listen.js";
import { startOrigin, type Origin } from "../harness/origin.js";
import { startFakeKubeApi } from "../harness/fake-kube-api.js";
import { Redis } from "ioredis";
import { startRedisRoute } from "../harness/redis-route.js";
import { spawnAttache, type SpawnedAttache } from "../harness/spawn-attache.js";

interface Received {
  path: string;
  contentType: string | undefined;
  body: Buffer;
}

/** An OTLP/HTTP collector endpoint: keeps every export it is sent and answers 200 as a collector does. */
async function startReceiver() {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ path: req.url ?? "", contentType: req.headers["content-type"], body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": req.headers["content-type"] ?? "application/json" });
      res.end(req.headers["content-type"]?.includes("json") ? "{}" : "");
    });
  });
  const port = await listenOn(server);
  return { url: `http://127.0.0.1:${port}`, received, close: () => closeServer(server) };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

/** OTLP/JSON (ExportTraceServiceRequest) → spans; ids are hex in OTLP/JSON. */
function spansOf(received: Received[]): OtlpSpan[] {
  return received
    .filter((r) => r.contentType?.includes("json"))
    .flatMap((r) => (JSON.parse(r.body.toString()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }).resourceSpans)
    .flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

function attr(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
}

const SERVER = 2;
const CLIENT = 3;
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const APP_SPAN = "00f067aa0ba902b7";

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(env: (collector: string) => NodeJS.ProcessEnv, extraRoot: (collector: string) => string = () => "") {
  const receiver = await startReceiver();
  cleanup.push(receiver.close);
  const origin: Origin = await startOrigin();
  cleanup.push(() => origin.close());
  const seen: IncomingHttpHeaders[] = [];
  let calls = 0;
  // Fails the first try of every request pair: a route with a retry answers 200 on the second.
  origin.route("/flaky", (req, res) => {
    seen.push(req.headers);
    res.statusCode = calls++ % 2 === 0 ? 503 : 200;
    res.end("x");
  });
  const config = tempConfig(`listen: 127.0.0.1:0
admin: 127.0.0.1:0
log: { level: info, access: true }
${extraRoot(receiver.url)}
routes:
  - prefix: /svc
    retry: { attempts: 2, on: [503], backoff: 1ms }
    upstream: { http: { endpoints: ["${origin.url}"] } }
`);
  cleanup.push(() => config.remove());
  const attache: SpawnedAttache = await spawnAttache(config.dir, { OTEL_BSP_SCHEDULE_DELAY: "50", ...env(receiver.url) });
  cleanup.push(() => attache.kill());
  return { receiver, origin, seen, attache };
}

describe("tracing", () => {
  it("OTEL_EXPORTER_OTLP_ENDPOINT alone turns it on: one server span and a client span per try, under the app's trace", async () => {
    const { receiver, seen, attache } = await setup((url) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "shop-sidecar",
    }));
    const answer = await send(attache.url, "/svc/flaky?x=1", {
      headers: { traceparent: `00-${TRACE}-${APP_SPAN}-01`, tracestate: "shop=1" },
    });
    expect(answer.status).toBe(200);

    const spans = (await eventually(() => {
      const s = spansOf(receiver.received).filter((x) => x.traceId === TRACE);
      return s.length >= 3 ? s : undefined;
    }, 15_000))!;
    expect(receiver.received.every((r) => r.path === "/v1/traces")).toBe(true);
    expect(JSON.parse(receiver.received[0]!.body.toString()).resourceSpans[0].resource.attributes).toContainEqual({
      key: "service.name",
      value: { stringValue: "shop-sidecar" },
    });
    const server = spans.filter((s) => s.kind === SERVER);
    const clients = spans.filter((s) => s.kind === CLIENT);
    expect(server).toHaveLength(1);
    expect(clients).toHaveLength(2);
    expect(server[0]).toMatchObject({ name: "GET /svc", parentSpanId: APP_SPAN });
    expect(attr(server[0]!, "http.route")).toBe("/svc");
    expect(attr(server[0]!, "attache.route")).toBe("/svc");
    expect(attr(server[0]!, "http.response.status_code")).toBe(200);
    expect(attr(server[0]!, "url.query")).toBe("x=1");
    for (const c of clients) expect(c.parentSpanId).toBe(server[0]!.spanId);
    const [first, second] = clients.sort(
      (a, b) => Number(attr(a, "http.request.resend_count") ?? 0) - Number(attr(b, "http.request.resend_count") ?? 0),
    );
    expect(attr(first!, "http.response.status_code")).toBe(503);
    expect(attr(first!, "error.type")).toBe("503");
    expect(attr(second!, "http.response.status_code")).toBe(200);
    expect(attr(second!, "http.request.resend_count")).toBe(1);

    // The origin's parent is attache's client span of that very try; the app's tracestate goes along.
    expect(seen.map((h) => h.traceparent)).toEqual([`00-${TRACE}-${first!.spanId}-01`, `00-${TRACE}-${second!.spanId}-01`]);
    expect(seen[0]!.tracestate).toBe("shop=1");

    const access = attache
      .stdout()
      .split("\n")
      .filter((l) => l.includes('"access"'))
      .map((l) => JSON.parse(l) as { traceId?: string; attempts?: number });
    expect(access).toEqual([expect.objectContaining({ traceId: TRACE, attempts: 2 })]);
  });

  it("exports OTLP protobuf by default, to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given", async () => {
    const { receiver, attache } = await setup((url) => ({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${url}/collector/traces` }));
    await send(attache.url, "/svc/flaky", { headers: { traceparent: `00-${TRACE}-${APP_SPAN}-01` } });
    // The server span ends last, so it may travel in a later export than the client spans.
    const exported = (await eventually(
      () => receiver.received.find((r) => r.body.includes(Buffer.from(TRACE, "hex")) && r.body.includes(Buffer.from("GET /svc"))),
      15_000,
    ))!;
    expect(exported.path).toBe("/collector/traces");
    expect(exported.contentType).toBe("application/x-protobuf");
    expect(receiver.received.every((r) => r.contentType === "application/x-protobuf")).toBe(true);
  });

  it("stays off with OTEL_SDK_DISABLED=true: nothing is exported and the app's traceparent passes untouched", async () => {
    const { receiver, seen, attache } = await setup((url) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_SDK_DISABLED: "true" }));
    await send(attache.url, "/svc/flaky", { headers: { traceparent: `00-${TRACE}-${APP_SPAN}-01` } });
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toEqual([]);
    expect(seen.map((h) => h.traceparent)).toEqual([`00-${TRACE}-${APP_SPAN}-01`, `00-${TRACE}-${APP_SPAN}-01`]);
    // Without tracing the access log still carries the app's trace id, for joining logs to traces.
    expect(attache.stdout()).toContain(`"traceId":"${TRACE}"`);
  });

  it("the root file's tracing block turns it on with its endpoint; sampleRatio 0 samples no new trace but follows a sampled app", async () => {
    const { receiver, seen, attache } = await setup(
      () => ({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }),
      (collector) => `tracing: { enabled: true, endpoint: "${collector}/otlp", sampleRatio: 0 }`,
    );
    await send(attache.url, "/svc/flaky"); // a new trace: not sampled
    await send(attache.url, "/svc/flaky", { headers: { traceparent: `00-${TRACE}-${APP_SPAN}-00` } }); // the app did not sample it
    // Not sampled, the upstream still gets a trace to continue: a new one, and the app's, both flagged not sampled.
    const [fresh = "", , followed = ""] = seen.map((h) => String(h.traceparent));
    expect(fresh).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(fresh.slice(3, 35)).not.toBe(TRACE);
    expect(followed).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
    expect(followed).not.toContain(APP_SPAN);
    await send(attache.url, "/svc/flaky", { headers: { traceparent: `00-${TRACE}-${APP_SPAN}-01` } }); // the app sampled it
    const spans = (await eventually(() => {
      const s = spansOf(receiver.received);
      return s.length >= 3 ? s : undefined;
    }, 15_000))!;
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.received.every((r) => r.path === "/otlp/v1/traces")).toBe(true);
    expect(new Set(spansOf(receiver.received).map((x) => x.traceId))).toEqual(new Set([TRACE]));
    expect(spans.filter((x) => x.kind === SERVER)).toHaveLength(1);
  });

  it("a Kubernetes route's call is a client span to the API server, whose parent the API server receives", async () => {
    const receiver = await startReceiver();
    cleanup.push(receiver.close);
    const fake = await startFakeKubeApi();
    cleanup.push(() => fake.close());
    const config = tempConfig(`listen: 127.0.0.1:0
admin: 127.0.0.1:0
routes:
  - prefix: /k8s
    upstream: { kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" } }
`);
    cleanup.push(() => config.remove());
    const attache = await spawnAttache(config.dir, {
      OTEL_BSP_SCHEDULE_DELAY: "50",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    cleanup.push(() => attache.kill());
    const res = await send(attache.url, "/k8s/api/v1/namespaces/default/pods/web-1", {
      headers: { traceparent: `00-${TRACE}-${APP_SPAN}-01` },
    });
    expect(res.status).toBe(200);
    const spans = (await eventually(() => {
      const s = spansOf(receiver.received).filter((x) => x.traceId === TRACE);
      return s.length >= 2 ? s : undefined;
    }, 15_000))!;
    const server = spans.find((x) => x.kind === SERVER)!;
    const client = spans.find((x) => x.kind === CLIENT)!;
    expect(server).toMatchObject({ name: "GET /k8s", parentSpanId: APP_SPAN });
    expect(client).toMatchObject({ name: "GET", parentSpanId: server.spanId });
    expect([Number(attr(client, "server.port")), Number(attr(client, "http.response.status_code"))]).toEqual([fake.port, 200]);
    const upstream = fake.requests.find((r) => r.url === "/api/v1/namespaces/default/pods/web-1")!;
    expect(upstream.headers.traceparent).toBe(`00-${TRACE}-${client.spanId}-01`);
  });

  /** A Redis route in this process with tracing on: the SDK reads these variables when the route's attache starts, and only then. */
  async function tracedRedisRoute(resp: boolean) {
    const receiver = await startReceiver();
    cleanup.push(receiver.close);
    const saved = { protocol: process.env.OTEL_EXPORTER_OTLP_PROTOCOL, delay: process.env.OTEL_BSP_SCHEDULE_DELAY };
    Object.assign(process.env, { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "50" });
    cleanup.push(() => {
      for (const [k, v] of [
        ["OTEL_EXPORTER_OTLP_PROTOCOL", saved.protocol],
        ["OTEL_BSP_SCHEDULE_DELAY", saved.delay],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });
    const route = await startRedisRoute("", { resp, rootExtra: `tracing: { enabled: true, endpoint: "${receiver.url}" }` });
    cleanup.push(() => route.stop());
    return { receiver, route };
  }

  it("a RESP listener client's command is a span, a pipelined run one span with its batch size, a Redis error its error.type", async () => {
    const { receiver, route } = await tracedRedisRoute(true);
    const client = new Redis({ port: route.resp, host: "127.0.0.1", lazyConnect: true });
    cleanup.push(() => client.disconnect());
    await client.connect();
    expect(await client.set("greeting", "hello")).toBe("OK");
    expect(await client.pipeline().get("greeting").get("greeting").get("greeting").exec()).toHaveLength(3);
    await expect(client.incr("greeting")).rejects.toThrow(/not an integer/);
    // The three GETs: one span per run of commands that arrived together (how the bytes were chunked decides).
    const gets = (s: OtlpSpan[]) =>
      s.reduce((n, x) => n + (x.name === "GET" ? 1 : x.name === "PIPELINE" ? Number(attr(x, "db.operation.batch.size")) : 0), 0);
    const spans = (await eventually(() => {
      const s = spansOf(receiver.received).filter((x) => attr(x, "attache.route") === "/cache");
      return s.some((x) => x.name === "INCR") && gets(s) === 3 ? s : undefined;
    }, 15_000))!;
    const set = spans.find((x) => x.name === "SET")!;
    expect(set).toMatchObject({ kind: SERVER });
    expect(set.parentSpanId || undefined).toBeUndefined();
    expect([attr(set, "db.system.name"), attr(set, "db.operation.name"), attr(set, "db.namespace")]).toEqual(["redis", "SET", "0"]);
    expect(spans.filter((x) => x.name === "PIPELINE").length).toBeGreaterThan(0);
    expect(attr(spans.find((x) => x.name === "INCR")!, "error.type")).toBe("ERR");
  });

  it("a Redis HTTP API call is a Redis client span under the request's server span", async () => {
    const { receiver, route } = await tracedRedisRoute(false);
    const put = await send(route.base, "/cache/greeting", {
      method: "PUT",
      body: "hello",
      headers: { traceparent: `00-${TRACE}-${APP_SPAN}-01` },
    });
    expect(put.status).toBe(204);
    const spans = (await eventually(() => {
      const s = spansOf(receiver.received).filter((x) => x.traceId === TRACE);
      return s.length >= 2 ? s : undefined;
    }, 15_000))!;
    const server = spans.find((x) => x.kind === SERVER)!;
    const redis = spans.find((x) => x.kind === CLIENT)!;
    expect(server.name).toBe("PUT /cache");
    expect(redis).toMatchObject({ name: "SET", parentSpanId: server.spanId });
    expect([
      attr(redis, "db.system.name"),
      attr(redis, "db.system"),
      attr(redis, "db.operation.name"),
      attr(redis, "db.namespace"),
    ]).toEqual(["redis", "redis", "SET", "0"]);
  });
});
