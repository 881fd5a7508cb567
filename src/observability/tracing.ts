/**
 * Whether attache traces, decided once at start, and the tracer when it does. Off (the default) costs
 * one `undefined` check per request: the OpenTelemetry SDK is loaded only when tracing is on.
 *
 * On when the root file says `tracing.enabled: true`, or when OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (what users of the OTel SDKs expect); OTEL_SDK_DISABLED=true
 * wins over both. The other OTEL_* variables (sampler, service name, headers, batch delay) are read
 * by the SDK itself.
 */
import type { TracingConfig } from "../config/schema.js";
import type { RequestTracer, TracingSettings } from "./otel.js";

export type { RequestTracer, TracingSettings };

/** The tracer, when tracing is on. Read on the hot path: nothing else is. */
export let tracer: RequestTracer | undefined;

export function tracingSettings(config: TracingConfig | undefined, env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  const envEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!envEndpoint && config?.enabled !== true) return undefined;
  return {
    endpoint: envEndpoint ? undefined : config?.endpoint,
    sampleRatio: env.OTEL_TRACES_SAMPLER ? undefined : config?.sampleRatio,
  };
}

/** Start tracing if the settings say so; the returned function flushes and stops it (at shutdown). */
export async function startTracing(config: TracingConfig | undefined, version: string): Promise<() => Promise<void>> {
  const settings = tracingSettings(config);
  if (!settings) return async () => {};
  const { createRequestTracer } = await import("./otel.js");
  const started = await createRequestTracer(settings, version);
  tracer = started;
  return async () => {
    tracer = undefined;
    await started.shutdown();
  };
}

/** The trace id of a W3C traceparent header (`00-<trace id>-<span id>-<flags>`), for the access log when attache does not trace. */
export function traceIdOf(traceparent: string | string[] | undefined): string | undefined {
  return typeof traceparent === "string" && traceparent.length >= 55 && traceparent[2] === "-" ? traceparent.slice(3, 35) : undefined;
}
