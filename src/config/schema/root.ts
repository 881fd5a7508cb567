/** The root file and a team route file: listeners, owners, includes, shutdown, logs and the blocks above. */
import { z } from "zod";
import { DEFAULTS } from "../defaults.js";
import { formatDuration } from "../units.js";
import { grant } from "./grant.js";
import { limits } from "./limits.js";
import { defaultsSchema, pathRule } from "./policy.js";
import { routeSchema } from "./route.js";
import { address, duration } from "./scalars.js";
import { tracing } from "./tracing.js";

const d = formatDuration;

const owner = z.string().regex(/^[A-Za-z0-9_.-]+$/, "owner may contain letters, digits and _ . -");
export const rootSchema = z.strictObject({
  listen: address.optional().meta({ description: `App-facing HTTP listener, host:port. Default ${DEFAULTS.listen}.` }),
  admin: address
    .optional()
    .meta({ description: `Admin listener (health, readiness, metrics, routes, config, drain), host:port. Default ${DEFAULTS.admin}.` }),
  probe: address.optional().meta({
    description:
      "Optional listener serving only GET /healthz and /readyz (no Host check), for kubelet probes; it may bind beyond loopback without allowNonLoopback. Default: none.",
  }),
  allowNonLoopback: z.boolean().optional().meta({
    description:
      "Allow listen/admin/RESP addresses outside loopback. Off: an ambassador holding credentials must not be reachable from the network by accident.",
  }),
  acceptHosts: z
    .array(z.string().min(1))
    .optional()
    .meta({
      description: `Host header allowlist, port ignored (the DNS-rebinding guard); others get 403 host_not_allowed. Default [${DEFAULTS.acceptHosts.join(", ")}].`,
    }),
  include: z
    .array(z.string().min(1))
    .optional()
    .meta({ description: "Globs of team route files, relative to this file; their folders are watched. Default: none." }),
  owner: owner.optional().meta({
    description:
      "Owner of the routes in this file. In a team route file: the team, which must be a key of the root's owners when owners is set.",
  }),
  owners: z
    .record(owner, z.union([z.array(z.string().startsWith("/")), grant]))
    .optional()
    .meta({
      description:
        "Which team may claim what. Short form `team: [/prefix]`: prefixes only, http only, no secret files; long form: a grant. When set, every team file must name its owner. Default: none, everything allowed.",
    }),
  kubernetes: z
    .strictObject({
      deny: z
        .array(pathRule)
        .optional()
        .meta({ description: "Added to the built-in deny (exec, attach, portforward, proxy) of every kubernetes route: the deny floor." }),
    })
    .optional()
    .meta({ description: "Settings of every kubernetes route." }),
  shutdown: z
    .strictObject({
      drainTimeout: duration.optional().meta({
        description: `Longest drain, streams included; keep terminationGracePeriodSeconds above it + 5s. Default ${d(DEFAULTS.shutdown.drainTimeout)}.`,
      }),
      idleGrace: duration.optional().meta({
        description: `The drain ends once nothing has been in flight for this long (counted from its start). Default ${d(DEFAULTS.shutdown.idleGrace)}.`,
      }),
    })
    .optional()
    .meta({ description: "The drain on SIGTERM, SIGINT or POST /quitquitquit." }),
  log: z
    .strictObject({
      level: z
        .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"])
        .optional()
        .meta({ description: `Log level; ATTACHE_LOG_LEVEL wins. Default ${DEFAULTS.log.level}.` }),
      format: z
        .enum(["json", "pretty"])
        .optional()
        .meta({ description: `Default ${DEFAULTS.log.format}; pretty is accepted and writes the same JSON lines.` }),
      access: z
        .boolean()
        .optional()
        .meta({ description: `One access line per request. Default ${DEFAULTS.log.access}.` }),
    })
    .optional()
    .meta({ description: "Logs (pino, to stdout)." }),
  defaults: defaultsSchema.optional().meta({ description: "Policy for every route that does not set its own." }),
  limits: limits.optional().meta({
    description:
      "Bounds on what any one client can hold, sized for a 256 MiB container. Each HTTP listener applies them on its own; a reload applies headersTimeout, keepAliveTimeout and maxConnections to the running listeners.",
  }),
  tracing: tracing.optional().meta({ description: "OpenTelemetry tracing, off by default. Read at start: a change needs a restart." }),
  routes: z.array(routeSchema).optional().meta({ description: "Routes. In the root file they are not restricted by owners." }),
});

export const routeFileSchema = z.strictObject({
  owner: owner.optional(),
  routes: z.array(routeSchema),
});
