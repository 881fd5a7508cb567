/** The root's `limits` block: bounds on what one client may hold or cost. */
import { z } from "zod";
import { DEFAULTS } from "../defaults.js";
import { formatDuration, formatSize } from "../units.js";
import { duration, size } from "./scalars.js";

const d = formatDuration;

/** Bounds on what one client may hold or cost (docs/limits.md); every value has a default in `defaults.ts`. */
export const limits = z.strictObject({
  headersTimeout: duration.optional().meta({
    description: `A request head must arrive whole within this time from its first byte (slowloris cannot extend it); past it 408 request_timeout. Default ${d(DEFAULTS.limits.headersTimeout)}.`,
  }),
  keepAliveTimeout: duration
    .optional()
    .meta({ description: `An idle keep-alive connection is closed after this time. Default ${d(DEFAULTS.limits.keepAliveTimeout)}.` }),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({
      description: `Connections per listener (app, admin, probe, each RESP port); more get 503 overloaded. Default ${DEFAULTS.limits.maxConnections}.`,
    }),
  redis: z
    .strictObject({
      maxQueryBuffer: size.optional().meta({
        description: `Unparsed bytes one RESP client (or one HTTP API JSON body) may have pending (Redis: client-query-buffer-limit). Default ${formatSize(DEFAULTS.limits.redis.maxQueryBuffer)}.`,
      }),
      maxBulkLength: size.optional().meta({
        description: `Largest single argument (Redis: proto-max-bulk-len). Default ${formatSize(DEFAULTS.limits.redis.maxBulkLength)}.`,
      }),
      maxArgs: z
        .number()
        .int()
        .min(1)
        .optional()
        .meta({ description: `Arguments per command, RESP and HTTP API alike. Default ${DEFAULTS.limits.redis.maxArgs}.` }),
      output: z
        .strictObject({
          hard: size.optional().meta({
            description: `Unsent reply bytes that disconnect a client at once; 0: off. Default ${formatSize(DEFAULTS.limits.redis.output.hard)}.`,
          }),
          soft: size.optional().meta({
            description: `Unsent reply bytes that disconnect a client when held for softFor; 0: off. Default ${formatSize(DEFAULTS.limits.redis.output.soft)}.`,
          }),
          softFor: duration
            .optional()
            .meta({ description: `How long a client may stay above soft. Default ${d(DEFAULTS.limits.redis.output.softFor)}.` }),
        })
        .optional()
        .meta({ description: "Output buffer limits for RESP clients and SSE streams (Redis: client-output-buffer-limit pubsub)." }),
    })
    .optional()
    .meta({ description: "Bounds on RESP clients and on the Redis HTTP API." }),
});
