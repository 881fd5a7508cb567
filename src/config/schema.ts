/**
 * THE config schema (docs/configuration.md is generated from it): root file, team route file, route, upstream kinds.
 * Every TypeScript config type is inferred from here; `npm run schema` writes the JSON Schema.
 * Route-level policy keys stay optional here: `defaults.ts` and the root `defaults` block fill them in.
 */
import { z } from "zod";
import { DEFAULTS } from "./defaults.js";
import { pathPatternProblem } from "./path-pattern.js";
import { formatDuration, formatSize, parseDuration, parseSize } from "./units.js";

const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const out = parseDuration(value);
    if (out === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `invalid duration ${JSON.stringify(value)} (use e.g. 250ms, 5s, 2m, or integer milliseconds)`,
      });
      return z.NEVER;
    }
    return out;
  })
  .meta({ title: "duration", description: "Duration: a string such as 250ms, 5s, 2m, or integer milliseconds." });

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
  .meta({ title: "size", description: "Size: a string such as 512kb, 1mb, or integer bytes." });

const regex = z
  .string()
  .superRefine((source, ctx) => {
    const problem = pathPatternProblem(source);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ title: "RE2 regex", description: "Regular expression in RE2 syntax (matched in linear time; no lookaround or backreferences)." });

/** host:port; IPv6 hosts in brackets ("[::1]:8001"). */
const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port, e.g. 127.0.0.1:8001 or [::1]:8001")
  .meta({ title: "host:port" });

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port")
  .meta({ title: "host:port" });

/** Defaults in descriptions come from DEFAULTS, written the way a config file would say them. */
const d = formatDuration;
const route = DEFAULTS.route;

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
const filePath = z
  .string()
  .min(1)
  .meta({ title: "file", description: "Path of a file that attache reads (and re-reads when it changes)." });

/** An object with exactly one of the given keys set (upstream kinds, discovery sources). */
function exactlyOne<T extends Record<string, z.ZodType>>(shape: T, what: string) {
  const optional = Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, v.optional()])) as { [K in keyof T]: z.ZodOptional<T[K]> };
  const names = Object.keys(shape);
  return z.strictObject(optional).superRefine((value, ctx) => {
    const set = names.filter((k) => (value as Record<string, unknown>)[k] !== undefined);
    if (set.length !== 1)
      ctx.addIssue({
        code: "custom",
        message: `${what} needs exactly one of ${names.join(", ")}${set.length ? ` (found ${set.join(", ")})` : ""}`,
      });
  });
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"] as const;
const method = z.enum(METHODS);

const tls = z.strictObject({
  caFile: filePath
    .optional()
    .meta({ description: "PEM file of the CA certificates that verify the server. Default: Node's built-in CAs." }),
  certFile: filePath.optional().meta({ description: "PEM client certificate, for mutual TLS (with keyFile)." }),
  keyFile: filePath.optional().meta({ description: "PEM private key of certFile." }),
  servername: z.string().optional().meta({
    description:
      "Name sent in SNI and checked in the server's certificate. Default: the host connected to; set it for HTTPS to discovered IP addresses.",
  }),
  insecureSkipVerify: z.boolean().optional().meta({ description: "Skip server certificate verification. For tests only." }),
});

/** Connection keys shared by the kubernetes upstream and kubernetes discovery. */
const kubernetesConnection = {
  server: apiServerUrl.optional().meta({ description: "API server URL. Default: in-cluster, else the kubeconfig context." }),
  tokenFile: filePath.optional().meta({
    description:
      "Bearer token file, re-read when the kubelet rotates it (and once after a 401). Default in-cluster: the service-account token.",
  }),
  caFile: filePath
    .optional()
    .meta({ description: "CA bundle that verifies the API server. Default in-cluster: the service account's ca.crt." }),
  kubeconfig: z.string().optional().meta({ description: "kubeconfig path; default $KUBECONFIG, then ~/.kube/config." }),
  context: z.string().optional().meta({ description: "kubeconfig context to use. Default: the kubeconfig's current context." }),
};

const discovery = exactlyOne(
  {
    dns: z
      .strictObject({
        name: z
          .string()
          .min(1)
          .meta({ description: "DNS name whose A and AAAA records (a headless Service: one per pod) are the endpoints." }),
        port: z.number().int().min(1).max(65535).optional().meta({ description: "Port of every endpoint. Omitted: SRV records are used." }),
        interval: duration.optional().meta({
          description: `How often the name is resolved again; a failed or empty answer keeps the last good set. Default ${d(route.dnsInterval)}.`,
        }),
        servers: z.array(hostPort).optional().meta({ description: "DNS servers (ip:port) instead of the system resolvers." }),
      })
      .meta({ description: "Resolve a DNS name every interval." }),
    kubernetes: z
      .strictObject({
        service: z.string().min(1).meta({ description: "Service whose EndpointSlices are watched; only ready endpoints are used." }),
        namespace: z.string().min(1).optional().meta({
          description:
            "Namespace of the Service. Default: the connection's (in-cluster: attache's own; kubeconfig: the context's), else default.",
        }),
        port: z
          .union([z.string().min(1), z.number().int().min(1).max(65535)])
          .meta({ description: "Port number, or the name of a port of the Service (resolved per EndpointSlice)." }),
        ...kubernetesConnection,
      })
      .meta({
        description:
          "Watch a Service's EndpointSlices; same connection keys and credentials as the kubernetes upstream. RBAC: list and watch endpointslices in the namespace.",
      }),
  },
  "discovery",
);

const httpUpstream = z
  .strictObject({
    endpoints: z
      .array(httpUrl)
      .min(1)
      .optional()
      .meta({ description: "Static endpoints (http:// or https:// URLs, no credentials). Exactly one of endpoints or discovery." }),
    discovery: discovery
      .optional()
      .meta({ description: "Endpoints found at run time: exactly one of dns or kubernetes (EndpointSlices)." }),
    balance: z
      .enum(["round-robin", "least-request", "random"])
      .optional()
      .meta({ description: `How a request picks its endpoint. Default ${route.balance}.` }),
    tls: tls.optional().meta({ description: "TLS settings for https:// endpoints." }),
    auth: z
      .strictObject({
        bearerTokenFile: filePath.meta({ description: "File holding the token sent as `Authorization: Bearer`; re-read when it changes." }),
      })
      .optional()
      .meta({ description: "Credentials attache adds: they replace the client's Authorization header." }),
    outlierDetection: z
      .strictObject({
        consecutiveFailures: z
          .number()
          .int()
          .min(1)
          .optional()
          .meta({ description: `Failures in a row that eject an endpoint. Default ${route.outlierDetection.consecutiveFailures}.` }),
        ejectionTime: duration.optional().meta({
          description: `Ejection time, multiplied by the number of times the endpoint has been ejected. Default ${d(route.outlierDetection.ejectionTime)}.`,
        }),
        maxEjectionPercent: z
          .number()
          .min(0)
          .max(100)
          .optional()
          .meta({
            description: `Never eject more than this share of the endpoints, and never the last one. Default ${route.outlierDetection.maxEjectionPercent}.`,
          }),
      })
      .optional()
      .meta({ description: "Ejects an endpoint that fails again and again for a while." }),
  })
  .superRefine((value, ctx) => {
    if ((value.endpoints === undefined) === (value.discovery === undefined)) {
      ctx.addIssue({ code: "custom", message: "http upstream needs exactly one of endpoints or discovery" });
    }
  });

const kubernetesUpstream = z.strictObject({
  ...kubernetesConnection,
  identityHeaders: z.enum(["remove", "pass"]).optional().meta({
    description:
      "The app's identity headers (Impersonate-*, X-Remote-*, X-Real-Ip): remove (default), or pass, and the app may act as anyone attache's ServiceAccount may impersonate. Without pass, headers.set of one is a config error.",
  }),
  pingInterval: duration.optional().meta({
    description:
      "HTTP/2 connections to the API server are PINGed this often; one that answers nothing for two intervals is closed, ending its watches. Default 15s; 0 turns the check off.",
  }),
});

const redisUpstream = z
  .strictObject({
    url: withoutUserinfo(z.url({ protocol: /^rediss?$/, error: "expected a redis:// or rediss:// URL" }), "usernameFile, passwordFile")
      .optional()
      .meta({ description: "A standalone Redis: redis://host:port/db, or rediss:// for TLS. Exactly one of url, sentinels or cluster." }),
    sentinels: z.array(hostPort).min(1).optional().meta({
      description:
        "Sentinels (host:port), all of them (SENTINEL SENTINELS is not used); every reconnect asks them all and follows the majority.",
    }),
    name: z.string().min(1).optional().meta({ description: "Sentinel master name." }),
    cluster: z.array(hostPort).min(1).optional().meta({ description: "Redis Cluster seed nodes (host:port)." }),
    usernameFile: filePath.optional().meta({ description: "File with the ACL user name; re-read and re-sent when it changes." }),
    passwordFile: filePath.optional().meta({ description: "File with the password; re-read and re-sent when it changes." }),
    tls: tls.optional().meta({ description: "TLS to Redis (and to the sentinels). A rediss:// url turns it on too." }),
    keyPrefix: z.string().optional().meta({
      description:
        "Added to every key argument and removed from keys in replies: the app sees its keys without it. KEYS and SCAN patterns are confined; commands whose keys cannot be confined are refused. Channels are not prefixed.",
    }),
    commands: z.array(z.string().min(1)).min(1).optional().meta({
      description:
        'Commands allowed (others: 403 command_not_allowed, or -ERR on RESP). Default: a safe set of data-type, expiry, per-key keyspace, transaction and blocking commands. ["*"]: everything proxyable except scripts, functions, CONFIG and ACL, which must be listed by name.',
    }),
    listen: address.optional().meta({
      description:
        "Optional RESP listener (host:port) for ordinary Redis clients, e.g. redis-cli -p 6380. Loopback unless allowNonLoopback.",
    }),
  })
  .superRefine((value, ctx) => {
    const modes = [value.url, value.sentinels, value.cluster].filter((v) => v !== undefined).length;
    if (modes !== 1) ctx.addIssue({ code: "custom", message: "redis upstream needs exactly one of url, sentinels (with name) or cluster" });
    if (value.sentinels && !value.name) ctx.addIssue({ code: "custom", path: ["name"], message: "sentinels need the master's name" });
  });

const upstream = exactlyOne(
  {
    http: httpUpstream.meta({ description: "Plain HTTP or HTTPS services." }),
    kubernetes: kubernetesUpstream.meta({
      description: "The Kubernetes API, like kubectl proxy: in a pod in-cluster, on a laptop the current kubeconfig context.",
    }),
    redis: redisUpstream.meta({ description: "Redis through ioredis, over an HTTP API at the prefix and optionally a RESP listener." }),
  },
  "upstream",
);

const retryCondition = z
  .union([z.enum(["connect-failure", "reset", "timeout", "5xx"]), z.number().int().min(100).max(599)])
  .meta({ description: "connect-failure, reset, timeout, 5xx, or a status code (4xx included, e.g. 429)." });

const retry = z.strictObject({
  attempts: z.number().int().min(1).max(10).meta({ description: "Total tries, the first one included." }),
  on: z
    .array(retryCondition)
    .min(1)
    .optional()
    .meta({
      description: `What is retried. With timeout listed, each try gets an equal share of the route timeout. Default [${route.retry.on.join(", ")}].`,
    }),
  backoff: duration
    .optional()
    .meta({ description: `Base of the exponential back-off with full jitter. Default ${d(route.retry.backoff)}.` }),
  maxBackoff: duration.optional().meta({ description: `Cap of one back-off. Default ${d(route.retry.maxBackoff)}.` }),
});

const circuitBreaker = z.strictObject({
  enabled: z
    .boolean()
    .optional()
    .meta({ description: `Turns the breaker on or off (the bulkhead stays). Default ${route.circuitBreaker.enabled}.` }),
  errorThresholdPercentage: z
    .number()
    .min(1)
    .max(100)
    .optional()
    .meta({
      description: `Failed share of the requests in the window that opens the breaker. Default ${route.circuitBreaker.errorThresholdPercentage}.`,
    }),
  volumeThreshold: z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({
      description: `Fewer requests than this in the window never open the breaker. Default ${route.circuitBreaker.volumeThreshold}.`,
    }),
  resetTimeout: duration.optional().meta({
    description: `How long an open breaker refuses (503 circuit_open) before one trial request. Default ${d(route.circuitBreaker.resetTimeout)}.`,
  }),
  rollingCountTimeout: duration
    .optional()
    .meta({ description: `Length of the window the breaker counts over. Default ${d(route.circuitBreaker.rollingCountTimeout)}.` }),
  rollingCountBuckets: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({ description: `Buckets the window is divided into. Default ${route.circuitBreaker.rollingCountBuckets}.` }),
  maxConcurrent: z.number().int().min(1).optional().meta({
    description: "Bulkhead: in-flight requests above this get 503 overloaded at once (not counted by the breaker). Default: unlimited.",
  }),
});

const pool = z.strictObject({
  keepAlive: z
    .boolean()
    .optional()
    .meta({ description: `Reuse upstream connections. Default ${route.pool.keepAlive}.` }),
  maxSockets: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({
      description: `Connections per endpoint. Routes with equal pool and TLS settings share one pool (their keep-alive connections), and this bounds them together. Default ${route.pool.maxSockets}.`,
    }),
  maxFreeSockets: z.number().int().min(0).optional().meta({
    description: "Accepted but not enforced by the undici pool: idle connections close after idleTimeout; attache logs a warning.",
  }),
  idleTimeout: duration.optional().meta({
    description: `An idle pooled connection is closed after this (below Node servers' 5s keep-alive; shortened by the server's Keep-Alive hint). Default ${d(route.pool.idleTimeout)}.`,
  }),
  connectTimeout: duration.optional().meta({
    description: `Limit on opening an upstream connection (Redis: until its ready check answers). Default ${d(route.pool.connectTimeout)}.`,
  }),
});

const pathRule = z.strictObject({
  path: regex.meta({
    description:
      "Regular expression in RE2 syntax (no lookaround or backreferences; matched in time linear in the path) against the normalised path after the prefix. Deny rules ignore case.",
  }),
  methods: z.array(method).min(1).optional().meta({ description: "Methods the rule applies to. Default: all." }),
});

export const routeSchema = z
  .strictObject({
    prefix: z
      .string()
      .regex(
        /^\/([A-Za-z0-9._~!$&'()*+,;=:@-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*)?$/,
        "prefix must start with / and contain plain path segments (no trailing /, no empty, . or .. segments)",
      )
      .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), "prefix must not contain . or .. segments")
      .meta({
        description:
          "Path prefix on the app listener; unique across files; longest prefix wins; matches on segment boundaries (/pay never matches /payments).",
      }),
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]+$/, "name may contain letters, digits and _ . : -")
      .optional()
      .meta({ description: "Stable id in metrics and logs. Default: the prefix." }),
    stripPrefix: z
      .boolean()
      .optional()
      .meta({
        description: `Remove the prefix before forwarding (policy checks the path after the prefix either way). Default ${route.stripPrefix}.`,
      }),
    upstream: upstream.meta({ description: "Where the route goes: exactly one of http, kubernetes, redis." }),
    methods: z.array(method).min(1).optional().meta({ description: "Allowed methods; others get 405 with Allow. Default: all." }),
    allow: z
      .array(pathRule)
      .optional()
      .meta({ description: "If set, only paths matching a rule pass (403 path_denied). Default: allow all." }),
    deny: z.array(pathRule).optional().meta({
      description:
        "Paths refused with 403 path_denied; deny wins over allow. Matched against the strict and a lenient (most-decoded) reading of the path. Kubernetes routes: see the deny floor.",
    }),
    timeout: duration.optional().meta({
      description: `Deadline for the whole exchange, up to the last byte, retries included. Default: defaults.timeout, else ${d(route.timeout)} (kubernetes: ${d(route.kubernetes.timeout)}).`,
    }),
    streaming: z
      .boolean()
      .optional()
      .meta({
        description: `true: timeout applies only until the response headers arrive. Default ${route.streaming}; kubernetes routes: on for watch=true, follow=true and GET lists.`,
      }),
    retry: retry.optional().meta({
      description:
        "Retries of idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE) whose body can be sent again (none, or declared ≤ 64 KiB). Default: off.",
    }),
    circuitBreaker: circuitBreaker
      .optional()
      .meta({ description: "Breaker (opossum) and bulkhead of the route. Default: defaults.circuitBreaker, else the built-in values." }),
    pool: pool.optional().meta({ description: "Keep-alive connection pool of the route." }),
    headers: z
      .strictObject({
        set: z.record(z.string(), z.string()).optional().meta({ description: "Headers set on the request to the upstream." }),
        remove: z
          .array(
            z.string().regex(/^[!#$%&'+.^_`|~0-9A-Za-z-]+\*?$/, "expected a header name, or a prefix ending in * (e.g. Impersonate-*)"),
          )
          .optional()
          .meta({ description: "Headers removed from the request to the upstream: names, or prefixes ending in * (X-Remote-*)." }),
      })
      .optional()
      .meta({ description: "Changes to the request headers sent upstream. Default: none (kubernetes routes remove identity headers)." }),
    maxBodySize: size
      .optional()
      .meta({ description: `Request body limit; past it 413 body_too_large. Default ${formatSize(route.maxBodySize)}.` }),
  })
  .superRefine((route, ctx) => {
    // The kind removes the app's identity headers; a route file must not put them back by `set` unless it opts in.
    if (!route.upstream.kubernetes || route.upstream.kubernetes.identityHeaders === "pass") return;
    for (const name of Object.keys(route.headers?.set ?? {})) {
      if (isIdentityHeader(name)) {
        ctx.addIssue({
          code: "custom",
          path: ["headers", "set", name],
          message: `${name} is an identity header: a kubernetes route sets it only with upstream.kubernetes.identityHeaders: pass`,
        });
      }
    }
  });

function isIdentityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return DEFAULTS.route.kubernetes.identityHeaders.some((h) =>
    h.endsWith("*") ? lower.startsWith(h.slice(0, -1).toLowerCase()) : lower === h.toLowerCase(),
  );
}

const defaultsSchema = z.strictObject({
  timeout: duration.optional().meta({
    description: `Route timeout where a route sets none (kubernetes routes keep ${d(route.kubernetes.timeout)}). Built in: ${d(route.timeout)}.`,
  }),
  retry: retry.optional().meta({ description: "Retry of every route that sets none. Built in: off." }),
  circuitBreaker: circuitBreaker.optional().meta({ description: "Breaker settings of every route that sets none." }),
  pool: pool.optional().meta({ description: "Pool settings of every route that sets none." }),
  maxBodySize: size
    .optional()
    .meta({ description: `Request body limit of every route that sets none. Built in: ${formatSize(route.maxBodySize)}.` }),
});

/** Bounds on what one client may hold or cost (docs/limits.md); every value has a default in `defaults.ts`. */
const limits = z.strictObject({
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

/** OpenTelemetry tracing; the standard OTEL_* environment variables win over these keys, as in the OTel SDKs. */
const tracing = z.strictObject({
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
  hosts: z.array(hostPattern).optional().meta({
    description:
      "Hosts its http routes may target (endpoints, DNS discovery names, SERVICE.NAMESPACE.svc[.cluster.local] for Kubernetes discovery). Default: any.",
  }),
  secretDirs: z
    .array(z.string().startsWith("/", "secretDirs are absolute paths"))
    .optional()
    .meta({ description: "Folders its *File keys (and kubeconfig) may read from. Default: none." }),
  env: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name"))
    .optional()
    .meta({
      description: `Environment variables its files may read with \${VAR} (attache's environment may hold secrets). Default: none.`,
    }),
  files: z.array(z.string().min(1)).min(1).optional().meta({
    description:
      "Route files (or folders of them), relative to the root file, that may name this owner: e.g. the team's ConfigMap mount. Default: any included file.",
  }),
  kubernetes: z
    .strictObject({
      liftDeny: z.boolean().optional().meta({
        description:
          "Its kubernetes routes may set deny freely (deny: [] lifts the deny floor) and set identityHeaders: pass. Default: false: their deny rules add to the floor.",
      }),
    })
    .optional()
    .meta({ description: "What its kubernetes routes may change (needs kubernetes in upstreams)." }),
  redis: z
    .strictObject({
      urls: z
        .array(withoutUserinfo(z.url({ protocol: /^rediss?$/, error: "expected a redis:// or rediss:// URL" }), "passwordFile"))
        .min(1)
        .optional()
        .meta({
          description:
            "Servers its redis routes may use (scheme, host and port; sentinels and cluster nodes by host and port). Default: any.",
        }),
      keyPrefix: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "Every redis route of the team must set a keyPrefix that starts with this." }),
      db: z
        .number()
        .int()
        .min(0)
        .optional()
        .meta({ description: "Every redis route of the team must use this database (its url must select it)." }),
    })
    .optional()
    .meta({ description: "Bounds on its redis routes (needs redis in upstreams); each key optional." }),
});

export type GrantConfig = z.output<typeof grant>;

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
