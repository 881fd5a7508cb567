/** The upstream kinds of a route (http, kubernetes, redis), their TLS and connection keys, and http discovery. */
import { z } from "zod";
import { DEFAULTS } from "../defaults.js";
import { formatDuration } from "../units.js";
import { address, apiServerUrl, duration, exactlyOne, filePath, hostPort, httpUrl, withoutUserinfo } from "./scalars.js";

/** Defaults in descriptions come from DEFAULTS, written the way a config file would say them. */
const d = formatDuration;
const route = DEFAULTS.route;

/** The keys of a route's `upstream` (one kind each); grants name them. */
export const UPSTREAM_KINDS = ["http", "kubernetes", "redis"] as const;

export const tls = z.strictObject({
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

export const kubernetesUpstream = z.strictObject({
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

export const upstream = exactlyOne(
  {
    http: httpUpstream.meta({ description: "Plain HTTP or HTTPS services." }),
    kubernetes: kubernetesUpstream.meta({
      description: "The Kubernetes API, like kubectl proxy: in a pod in-cluster, on a laptop the current kubeconfig context.",
    }),
    redis: redisUpstream.meta({ description: "Redis through ioredis, over an HTTP API at the prefix and optionally a RESP listener." }),
  },
  "upstream",
);
