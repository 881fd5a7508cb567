/** The root's `tracing` block (OpenTelemetry). */
import { z } from "zod";
import { httpUrl } from "./scalars.js";

/** OpenTelemetry tracing; the standard OTEL_* environment variables win over these keys, as in the OTel SDKs. */
export const tracing = z.strictObject({
  enabled: z.boolean().optional().meta({
    description: "Emit spans. Setting OTEL_EXPORTER_OTLP_ENDPOINT alone also turns tracing on; OTEL_SDK_DISABLED=true turns it off.",
  }),
  endpoint: httpUrl.optional().meta({
    description: "OTLP/HTTP base URL (the collector's :4318); /v1/traces is appended. OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT wins.",
  }),
  sampleRatio: z.number().min(0).max(1).optional().meta({
    description: "Share of new traces sampled (parent-based: the app's sampled flag is followed). OTEL_TRACES_SAMPLER wins. Default 1.",
  }),
});
