/**
 * The OpenTelemetry SDK behind tracing.ts, loaded only when tracing is on: a server span per request,
 * a client span per upstream try, a client span per Redis command of the HTTP API, a span per
 * command of a RESP listener client. Attributes follow
 * the OTel semantic conventions (HTTP, database) plus `attache.route` and `attache.error`.
 *
 * Spans are passed explicitly, never through a context manager: a global AsyncLocalStorage context
 * would cost every async step of every request, traced or not. W3C `traceparent`/`tracestate` from
 * the app are continued (the parent-based sampler follows the app's sampled flag); the upstream gets
 * attache's client span as its parent.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

export type { Span };

export interface TracingSettings {
  /** The root file's OTLP base URL, used only when no OTEL_* endpoint variable is set. */
  endpoint: string | undefined;
  /** The root file's sampleRatio, used only when OTEL_TRACES_SAMPLER is not set. */
  sampleRatio: number | undefined;
}

const getter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => headers[key],
};
const setter: TextMapSetter<OutgoingHttpHeaders> = {
  set: (headers, key, value) => {
    headers[key] = value;
  },
};

/** Where a try goes (discovery's Endpoint has these). */
export interface HttpEndpoint {
  readonly host: string;
  readonly port: number;
  readonly origin: string;
  readonly basePath: string;
}

/** What a finished exchange tells its span. */
export interface Outcome {
  status?: number | undefined;
  /** attache's error code, or the foreign error's code for a failed try. */
  error?: string | undefined;
  /** The upstream's own error (a Redis error reply's prefix): error.type only. */
  errorType?: string | undefined;
}

export class RequestTracer {
  private readonly propagator = new W3CTraceContextPropagator();
  private readonly tracer;

  constructor(private readonly provider: BasicTracerProvider) {
    this.tracer = provider.getTracer("attache");
  }

  /**
   * The request's server span, child of the app's traceparent when it sent one. The sampler decides
   * before any attribute is built (the built-in samplers do not read them): a request that is not
   * sampled costs its span ids and nothing more.
   */
  serverSpan(req: IncomingMessage): Span {
    const parent = req.headers.traceparent ? this.propagator.extract(ROOT_CONTEXT, req.headers, getter) : ROOT_CONTEXT;
    const span = this.tracer.startSpan(req.method ?? "GET", { kind: SpanKind.SERVER }, parent);
    if (!span.isRecording()) return span;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const attributes: Attributes = {
      "http.request.method": req.method,
      "url.scheme": "http",
      "url.path": q < 0 ? url : url.slice(0, q),
      "network.protocol.version": req.httpVersion,
      // No client.address or server.port: each is a system call per request, and the app is always on loopback.
    };
    if (q >= 0) attributes["url.query"] = url.slice(q + 1);
    if (req.headers["user-agent"]) attributes["user_agent.original"] = req.headers["user-agent"];
    return span.setAttributes(attributes);
  }

  /** Once the route is known: the span's name becomes `METHOD /prefix` (its http.route). */
  routed(span: Span, method: string, route: string, prefix: string): void {
    if (!span.isRecording()) return;
    span.updateName(`${method} ${prefix}`);
    span.setAttributes({ "http.route": prefix, "attache.route": route });
  }

  /**
   * One try to an HTTP upstream; its context goes upstream in `headers` (traceparent, tracestate).
   * Under a request that is not sampled there is no span: the request's own context goes upstream,
   * so the upstream continues the app's trace with the same not-sampled flag.
   */
  httpClientSpan(
    parent: Span,
    method: string,
    endpoint: HttpEndpoint,
    path: string,
    resendCount: number,
    headers: OutgoingHttpHeaders,
  ): Span | undefined {
    if (!parent.isRecording()) {
      this.propagator.inject(trace.setSpan(ROOT_CONTEXT, parent), headers, setter);
      return undefined;
    }
    const attributes: Attributes = {
      "http.request.method": method,
      "server.address": endpoint.host,
      "server.port": endpoint.port,
      "url.full": endpoint.origin + endpoint.basePath + path,
    };
    if (resendCount > 0) attributes["http.request.resend_count"] = resendCount;
    const span = this.tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes }, trace.setSpan(ROOT_CONTEXT, parent));
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, setter);
    return span;
  }

  /** One Redis command (or pipeline) of the HTTP API. */
  redisSpan(parent: Span, operation: string, route: string, db: number): Span {
    const attributes = redisAttributes(operation, route, db);
    return this.tracer.startSpan(operation, { kind: SpanKind.CLIENT, attributes }, trace.setSpan(ROOT_CONTEXT, parent));
  }

  /**
   * A command (or a run of commands sent as one) of a RESP listener client: a root span, as RESP
   * carries no trace context, so the sampler's ratio decides which are kept (tracing.sampleRatio or
   * OTEL_TRACES_SAMPLER: set one on busy Redis routes).
   */
  respSpan(operation: string, batch: number, route: string, db: number): Span {
    const attributes = redisAttributes(operation, route, db);
    if (batch > 1) attributes["db.operation.batch.size"] = batch;
    return this.tracer.startSpan(batch > 1 ? "PIPELINE" : operation, { kind: SpanKind.SERVER, attributes }, ROOT_CONTEXT);
  }

  end(span: Span, outcome: Outcome): void {
    if (!span.isRecording()) return;
    if (outcome.status) span.setAttribute("http.response.status_code", outcome.status);
    if (outcome.error) {
      span.setAttributes({ "error.type": outcome.error, "attache.error": outcome.error });
      span.setStatus({ code: SpanStatusCode.ERROR });
    } else if (outcome.errorType) {
      span.setAttribute("error.type", outcome.errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    } else if (outcome.status !== undefined && outcome.status >= 500) {
      span.setAttribute("error.type", String(outcome.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/** A Redis span's attributes: both the current and the older database conventions' names. */
function redisAttributes(operation: string, route: string, db: number): Attributes {
  return {
    "db.system.name": "redis",
    "db.system": "redis",
    "db.operation.name": operation,
    "db.operation": operation,
    "db.namespace": String(db),
    "attache.route": route,
  };
}

export async function createRequestTracer(settings: TracingSettings, version: string): Promise<RequestTracer> {
  const resource = defaultResource()
    .merge(resourceFromAttributes({ "service.name": "attache", "service.version": version }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win, as everywhere in OTel.
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({
    resource,
    // Without a ratio from the file, the SDK reads OTEL_TRACES_SAMPLER (default: parent-based, always on).
    ...(settings.sampleRatio !== undefined
      ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }) }
      : {}),
    spanProcessors: [new BatchSpanProcessor(await exporter(settings))],
  });
  return new RequestTracer(provider);
}

/** OTLP over HTTP: protobuf by default (the spec's default), JSON with OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=http/json. */
async function exporter(settings: TracingSettings): Promise<SpanExporter> {
  const protocol = process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || process.env.OTEL_EXPORTER_OTLP_PROTOCOL || "http/protobuf";
  const config = settings.endpoint
    ? { url: new URL("v1/traces", settings.endpoint.endsWith("/") ? settings.endpoint : `${settings.endpoint}/`).href }
    : {};
  if (protocol === "http/json") return new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter(config);
  if (protocol !== "http/protobuf")
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: attache exports over HTTP (http/protobuf or http/json)`);
  return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter(config);
}
