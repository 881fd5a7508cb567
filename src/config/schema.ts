/**
 * THE config schema (DESIGN §2): root file, team route file, route, upstream kinds.
 * Every TypeScript config type is inferred from here; `npm run schema` writes the JSON Schema.
 * Route-level policy keys stay optional here: `defaults.ts` and the root `defaults` block fill them in.
 */
import { z } from "zod";
import { DEFAULTS } from "./defaults.js";
import { pathPatternProblem } from "./path-pattern.js";
import { parseDuration, parseSize } from "./units.js";

const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const out = parseDuration(value);
    if (out === undefined) {
      ctx.addIssue({ code: "custom", message: `invalid duration ${JSON.stringify(value)} (use e.g. 250ms, 5s, 2m, or integer milliseconds)` });
      return z.NEVER;
    }
    return out;
  })
  .meta({ description: "Duration: a string such as 250ms, 5s, 2m, or integer milliseconds." });

const size = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const out = parseSize(value);
    if (out === undefined) {
      ctx.addIssue({ code: "custom", message: `invalid size ${JSON.stringify(value)} (use e.g. 512kb, 1mb, or integer bytes)` });
      return z.NEVER;
    }
    return out;
  })
  .meta({ description: "Size: a string such as 512kb, 1mb, or integer bytes." });

const regex = z
  .string()
  .superRefine((source, ctx) => {
    const problem = pathPatternProblem(source);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ description: "Regular expression in RE2 syntax (matched in linear time; no lookaround or backreferences)." });

/** host:port; IPv6 hosts in brackets ("[::1]:8001"). */
const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port, e.g. 127.0.0.1:8001 or [::1]:8001");

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port");

/**
 * URLs carry no credentials: userinfo would be printed wherever the URL is (routes, logs, problems),
 * and a secret belongs in a file that can be rotated. The message never repeats the URL.
 */
function withoutUserinfo<T extends z.ZodType<string>>(url: T, use: string) {
  return url.refine(
    (value) => {
      const u = URL.parse(value);
      return !u || (u.username === "" && u.password === "");
    },
    { message: `credentials in the URL are not allowed: use a *File key (${use})`, abort: true },
  );
}

const anyHttpUrl = () => z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" });
const httpUrl = withoutUserinfo(anyHttpUrl(), "auth.bearerTokenFile, or tls.certFile and tls.keyFile");
const apiServerUrl = withoutUserinfo(anyHttpUrl(), "tokenFile, or kubeconfig");

/** A file the process must be able to read; checked at load (`validate.ts`) and re-read when it changes. */
const filePath = z.string().min(1).meta({ description: "Path of a file that attache reads (and re-reads when it changes)." });

/** An object with exactly one of the given keys set (upstream kinds, discovery sources). */
function exactlyOne<T extends Record<string, z.ZodType>>(shape: T, what: string) {
  const optional = Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, v.optional()])) as { [K in keyof T]: z.ZodOptional<T[K]> };
  const names = Object.keys(shape);
  return z.strictObject(optional).superRefine((value, ctx) => {
    const set = names.filter((k) => (value as Record<string, unknown>)[k] !== undefined);
    if (set.length !== 1) ctx.addIssue({ code: "custom", message: `${what} needs exactly one of ${names.join(", ")}${set.length ? ` (found ${set.join(", ")})` : ""}` });
  });
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"] as const;
const method = z.enum(METHODS);

const tls = z.strictObject({
  caFile: filePath.optional(),
  certFile: filePath.optional(),
  keyFile: filePath.optional(),
  servername: z.string().optional(),
  insecureSkipVerify: z.boolean().optional().meta({ description: "Skip server certificate verification. For tests only." }),
});

/** Connection keys shared by the kubernetes upstream and kubernetes discovery. */
const kubernetesConnection = {
  server: apiServerUrl.optional().meta({ description: "API server URL. Default: in-cluster, else the kubeconfig context." }),
  tokenFile: filePath.optional(),
  caFile: filePath.optional(),
  kubeconfig: z.string().optional().meta({ description: "kubeconfig path; default $KUBECONFIG, then ~/.kube/config." }),
  context: z.string().optional(),
};

const discovery = exactlyOne(
  {
    dns: z.strictObject({
      name: z.string().min(1),
      port: z.number().int().min(1).max(65535).optional().meta({ description: "Omitted: SRV records are used." }),
      interval: duration.optional(),
      servers: z.array(hostPort).optional().meta({ description: "DNS servers (ip:port) instead of the system resolvers." }),
    }),
    kubernetes: z.strictObject({
      service: z.string().min(1),
      namespace: z.string().min(1).optional(),
      port: z.union([z.string().min(1), z.number().int().min(1).max(65535)]),
      ...kubernetesConnection,
    }),
  },
  "discovery",
);

const httpUpstream = z
  .strictObject({
    endpoints: z.array(httpUrl).min(1).optional(),
    discovery: discovery.optional(),
    balance: z.enum(["round-robin", "least-request", "random"]).optional(),
    tls: tls.optional(),
    auth: z.strictObject({ bearerTokenFile: filePath }).optional(),
    outlierDetection: z
      .strictObject({
        consecutiveFailures: z.number().int().min(1).optional(),
        ejectionTime: duration.optional(),
        maxEjectionPercent: z.number().min(0).max(100).optional(),
      })
      .optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.endpoints === undefined) === (value.discovery === undefined)) {
      ctx.addIssue({ code: "custom", message: "http upstream needs exactly one of endpoints or discovery" });
    }
  });

const kubernetesUpstream = z.strictObject({
  ...kubernetesConnection,
  identityHeaders: z
    .enum(["remove", "pass"])
    .optional()
    .meta({ description: "The app's Impersonate-* and X-Remote-* headers: removed (default), or passed to the API server, where they act with attache's identity." }),
  pingInterval: duration
    .optional()
    .meta({ description: "HTTP/2 connections to the API server are PINGed this often; one that answers nothing for two intervals is closed, ending its watches. Default 15s; 0 turns the check off." }),
});

const redisUpstream = z
  .strictObject({
    url: withoutUserinfo(z.url({ protocol: /^rediss?$/, error: "expected a redis:// or rediss:// URL" }), "usernameFile, passwordFile").optional(),
    sentinels: z.array(hostPort).min(1).optional(),
    name: z.string().min(1).optional().meta({ description: "Sentinel master name." }),
    cluster: z.array(hostPort).min(1).optional(),
    usernameFile: filePath.optional(),
    passwordFile: filePath.optional(),
    tls: tls.optional(),
    keyPrefix: z.string().optional(),
    commands: z.array(z.string().min(1)).min(1).optional(),
    listen: address.optional().meta({ description: "Optional RESP listener for ordinary Redis clients." }),
  })
  .superRefine((value, ctx) => {
    const modes = [value.url, value.sentinels, value.cluster].filter((v) => v !== undefined).length;
    if (modes !== 1) ctx.addIssue({ code: "custom", message: "redis upstream needs exactly one of url, sentinels (with name) or cluster" });
    if (value.sentinels && !value.name) ctx.addIssue({ code: "custom", path: ["name"], message: "sentinels need the master's name" });
  });

const upstream = exactlyOne({ http: httpUpstream, kubernetes: kubernetesUpstream, redis: redisUpstream }, "upstream");

const retryCondition = z.union([z.enum(["connect-failure", "reset", "timeout", "5xx"]), z.number().int().min(100).max(599)]);

const retry = z.strictObject({
  attempts: z.number().int().min(1).max(10).meta({ description: "Total tries, the first one included." }),
  on: z.array(retryCondition).min(1).optional(),
  backoff: duration.optional(),
  maxBackoff: duration.optional(),
});

const circuitBreaker = z.strictObject({
  enabled: z.boolean().optional(),
  errorThresholdPercentage: z.number().min(1).max(100).optional(),
  volumeThreshold: z.number().int().min(0).optional(),
  resetTimeout: duration.optional(),
  rollingCountTimeout: duration.optional(),
  rollingCountBuckets: z.number().int().min(1).optional(),
  maxConcurrent: z.number().int().min(1).optional().meta({ description: "Bulkhead: in-flight requests above this get 503 overloaded." }),
});

const pool = z.strictObject({
  keepAlive: z.boolean().optional(),
  maxSockets: z.number().int().min(1).optional().meta({ description: "Connections per endpoint. Routes with equal pool and TLS settings share one pool (their keep-alive connections), and this bounds them together." }),
  maxFreeSockets: z.number().int().min(0).optional().meta({ description: "Accepted (DESIGN names it) but not enforced by the undici pool: idle connections close after idleTimeout." }),
  idleTimeout: duration.optional(),
  connectTimeout: duration.optional(),
});

const pathRule = z.strictObject({
  path: regex,
  methods: z.array(method).min(1).optional(),
});

export const routeSchema = z.strictObject({
  prefix: z
    .string()
    .regex(/^\/([A-Za-z0-9._~!$&'()*+,;=:@-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*)?$/, "prefix must start with / and contain plain path segments (no trailing /, no empty, . or .. segments)")
    .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), "prefix must not contain . or .. segments"),
  name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, "name may contain letters, digits and _ . : -").optional(),
  stripPrefix: z.boolean().optional(),
  upstream,
  methods: z.array(method).min(1).optional(),
  allow: z.array(pathRule).optional(),
  deny: z.array(pathRule).optional(),
  timeout: duration.optional(),
  streaming: z.boolean().optional(),
  retry: retry.optional(),
  circuitBreaker: circuitBreaker.optional(),
  pool: pool.optional(),
  headers: z
    .strictObject({
      set: z.record(z.string(), z.string()).optional(),
      remove: z
        .array(z.string().regex(/^[!#$%&'+.^_`|~0-9A-Za-z-]+\*?$/, "expected a header name, or a prefix ending in * (e.g. Impersonate-*)"))
        .optional()
        .meta({ description: "Headers removed from the request to the upstream: names, or prefixes ending in * (X-Remote-*)." }),
    })
    .optional(),
  maxBodySize: size.optional(),
}).superRefine((route, ctx) => {
  // The kind removes the app's identity headers; a route file must not put them back by `set` unless it opts in.
  if (!route.upstream.kubernetes || route.upstream.kubernetes.identityHeaders === "pass") return;
  for (const name of Object.keys(route.headers?.set ?? {})) {
    if (isIdentityHeader(name)) {
      ctx.addIssue({ code: "custom", path: ["headers", "set", name], message: `${name} is an identity header: a kubernetes route sets it only with upstream.kubernetes.identityHeaders: pass` });
    }
  }
});

function isIdentityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return DEFAULTS.route.kubernetes.identityHeaders.some((h) => (h.endsWith("*") ? lower.startsWith(h.slice(0, -1).toLowerCase()) : lower === h.toLowerCase()));
}

const defaultsSchema = z.strictObject({
  timeout: duration.optional(),
  retry: retry.optional(),
  circuitBreaker: circuitBreaker.optional(),
  pool: pool.optional(),
  maxBodySize: size.optional(),
});

/** Bounds on what one client may hold or cost (DESIGN §7); every value has a default in `defaults.ts`. */
const limits = z.strictObject({
  headersTimeout: duration.optional().meta({ description: "A request head must arrive whole within this time (slowloris cannot extend it)." }),
  keepAliveTimeout: duration.optional().meta({ description: "An idle keep-alive connection is closed after this time." }),
  maxConnections: z.number().int().min(1).optional().meta({ description: "Connections per listener (app, admin, each RESP port); more are refused." }),
  redis: z
    .strictObject({
      maxQueryBuffer: size.optional().meta({ description: "Unparsed bytes one RESP client may have pending (Redis: client-query-buffer-limit)." }),
      maxBulkLength: size.optional().meta({ description: "Largest single argument (Redis: proto-max-bulk-len)." }),
      maxArgs: z.number().int().min(1).optional().meta({ description: "Arguments per command, RESP and HTTP API alike." }),
      output: z
        .strictObject({
          hard: size.optional().meta({ description: "Unsent reply bytes that disconnect a client at once." }),
          soft: size.optional().meta({ description: "Unsent reply bytes that disconnect a client when held for softFor." }),
          softFor: duration.optional(),
        })
        .optional()
        .meta({ description: "Output buffer limits for RESP clients and SSE streams (Redis: client-output-buffer-limit pubsub)." }),
    })
    .optional(),
});

/** OpenTelemetry tracing; the standard OTEL_* environment variables win over these keys, as in the OTel SDKs. */
const tracing = z.strictObject({
  enabled: z.boolean().optional().meta({ description: "Emit spans. Setting OTEL_EXPORTER_OTLP_ENDPOINT alone also turns tracing on; OTEL_SDK_DISABLED=true turns it off." }),
  endpoint: httpUrl.optional().meta({ description: "OTLP/HTTP base URL (the collector's :4318); /v1/traces is appended. OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT wins." }),
  sampleRatio: z.number().min(0).max(1).optional().meta({ description: "Share of new traces sampled (parent-based: the app's sampled flag is followed). OTEL_TRACES_SAMPLER wins. Default 1." }),
});

const owner = z.string().regex(/^[A-Za-z0-9_.-]+$/, "owner may contain letters, digits and _ . -");

export const UPSTREAM_KINDS = ["http", "kubernetes", "redis"] as const;

const hostPattern = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$|^\[[0-9a-fA-F:.]+\]$/, "expected a host name, an IP address, or *.domain")
  .meta({ description: "A host name or IP address; `*.example.com` matches any name under example.com." });

/**
 * What one team's route files may reach (the long form of an `owners` entry). Least privilege: what
 * is not granted here is refused, with the key that would grant it named in the problem.
 */
const grant = z.strictObject({
  prefixes: z.array(z.string().startsWith("/")).min(1).meta({ description: "Prefixes the team's routes may claim (segment boundaries)." }),
  upstreams: z
    .array(z.enum(UPSTREAM_KINDS))
    .min(1)
    .optional()
    .meta({ description: "Upstream kinds the team's routes may use. Default: [http]." }),
  hosts: z
    .array(hostPattern)
    .optional()
    .meta({ description: "Hosts its http routes may target (endpoints, DNS discovery names, SERVICE.NAMESPACE.svc[.cluster.local] for Kubernetes discovery). Default: any." }),
  secretDirs: z
    .array(z.string().startsWith("/", "secretDirs are absolute paths"))
    .optional()
    .meta({ description: "Folders its *File keys (and kubeconfig) may read from. Default: none." }),
  env: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name"))
    .optional()
    .meta({ description: "Environment variables its files may read with ${VAR} (attache's environment may hold secrets). Default: none." }),
  files: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .meta({ description: "Route files (or folders of them), relative to the root file, that may name this owner: e.g. the team's ConfigMap mount. Default: any included file." }),
  kubernetes: z
    .strictObject({
      liftDeny: z.boolean().optional().meta({ description: "Its kubernetes routes may set deny freely (deny: [] lifts the deny floor). Default: false: their deny rules add to the floor." }),
    })
    .optional(),
  redis: z
    .strictObject({
      urls: z
        .array(withoutUserinfo(z.url({ protocol: /^rediss?$/, error: "expected a redis:// or rediss:// URL" }), "passwordFile"))
        .min(1)
        .optional()
        .meta({ description: "Servers its redis routes may use (scheme, host and port; sentinels and cluster nodes by host and port). Default: any." }),
      keyPrefix: z.string().min(1).optional().meta({ description: "Every redis route of the team must set a keyPrefix that starts with this." }),
      db: z.number().int().min(0).optional().meta({ description: "Every redis route of the team must use this database." }),
    })
    .optional(),
});

export type GrantConfig = z.output<typeof grant>;

export const rootSchema = z.strictObject({
  listen: address.optional(),
  admin: address.optional(),
  probe: address
    .optional()
    .meta({ description: "Optional listener serving only /healthz and /readyz, for kubelet probes; it may bind beyond loopback without allowNonLoopback." }),
  allowNonLoopback: z
    .boolean()
    .optional()
    .meta({ description: "Allow listen/admin/RESP addresses outside loopback. Off: an ambassador holding credentials must not be reachable from the network by accident." }),
  acceptHosts: z.array(z.string().min(1)).optional(),
  include: z.array(z.string().min(1)).optional(),
  owner: owner.optional().meta({ description: "Owner of the routes in this file." }),
  owners: z
    .record(owner, z.union([z.array(z.string().startsWith("/")), grant]))
    .optional()
    .meta({ description: "Which team may claim what. Short form `team: [/prefix]`: prefixes only, http only, no secret files; long form: a grant." }),
  kubernetes: z
    .strictObject({
      deny: z.array(pathRule).optional().meta({ description: "Added to the built-in deny (exec, attach, portforward, proxy) of every kubernetes route: the deny floor." }),
    })
    .optional(),
  shutdown: z.strictObject({ drainTimeout: duration.optional(), idleGrace: duration.optional() }).optional(),
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).optional(),
      format: z.enum(["json", "pretty"]).optional(),
      access: z.boolean().optional(),
    })
    .optional(),
  defaults: defaultsSchema.optional(),
  limits: limits.optional(),
  tracing: tracing.optional(),
  routes: z.array(routeSchema).optional(),
});

export const routeFileSchema = z.strictObject({
  owner: owner.optional(),
  routes: z.array(routeSchema),
});

export type RootFileConfig = z.output<typeof rootSchema>;
export type RouteFileConfig = z.output<typeof routeFileSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type KubernetesUpstreamConfig = z.output<typeof kubernetesUpstream>;
export type TlsConfig = z.output<typeof tls>;
export type RetryConfig = z.output<typeof retry>;
export type CircuitBreakerConfig = z.output<typeof circuitBreaker>;
export type PoolConfig = z.output<typeof pool>;
export type TracingConfig = z.output<typeof tracing>;
export type LimitsConfig = z.output<typeof limits>;
export type PathRuleConfig = z.output<typeof pathRule>;
