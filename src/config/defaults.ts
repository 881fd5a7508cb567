/** Built-in defaults, one reason each. The root file's `defaults` block overrides them for every route. */

export const DEFAULTS = {
  /** Loopback only: the app is in the same pod; nothing else should reach an ambassador holding credentials. */
  listen: "127.0.0.1:8001",
  admin: "127.0.0.1:9901",
  /** The DNS-rebinding guard of kubectl proxy: only names that mean "this machine". */
  acceptHosts: ["localhost", "127.0.0.1", "[::1]"],
  shutdown: {
    /** Below Kubernetes' default terminationGracePeriodSeconds (30s), so attache exits before SIGKILL. */
    drainTimeout: 20_000,
    /** Long enough for an app that is itself shutting down to make its last calls. */
    idleGrace: 2_000,
  },
  log: { level: "info", format: "json", access: true },
  /** Sized so that a 256 MiB container survives its worst client (docs/limits.md). */
  limits: {
    /** Node's own default since 18; stated because a zero requestTimeout used to zero it too. */
    headersTimeout: 10_000,
    /** Above the app's usual idle pool time, below kubelet-style 30 s+ leaks. */
    keepAliveTimeout: 30_000,
    maxConnections: 1024,
    redis: {
      /** Redis' client-query-buffer-limit is 1 GiB; a sidecar shares its memory with nothing, so far less. */
      maxQueryBuffer: 16 * 1024 * 1024,
      /** Redis' proto-max-bulk-len is 512 MiB; values larger than this do not belong in a cache behind a sidecar. */
      maxBulkLength: 16 * 1024 * 1024,
      maxArgs: 100_000,
      /** Redis' pub/sub defaults are 32mb hard, 8mb for 60s; halved and shortened for a 256 MiB sidecar. */
      output: { hard: 16 * 1024 * 1024, soft: 4 * 1024 * 1024, softFor: 10_000 },
    },
  },
  route: {
    stripPrefix: true,
    /** Envoy's route timeout is 15s. */
    timeout: 15_000,
    kubernetes: {
      /** The API server's own request timeout (--request-timeout, 60s): a shorter one cuts requests it would complete. */
      timeout: 60_000,
      /** client-go PINGs after 30 s without a frame and gives up 15 s later: a vanished server is noticed within 30–60 s here. */
      pingInterval: 15_000,
      /** Node's default SETTINGS_MAX_CONCURRENT_STREAMS; the API server allows more. */
      maxStreams: 100,
      /**
       * client-go's IdleConnTimeout: an app that calls every few seconds keeps its connection (and the API
       * server is spared a TLS handshake per call); PINGs (pingInterval) find a dead one meanwhile.
       */
      idleTimeout: 90_000,
      /**
       * Headers with which a request says who it acts as, removed from the app's requests unless the route
       * sets `identityHeaders: pass`: the app gets what attache's ServiceAccount is granted, not whatever the
       * ServiceAccount may impersonate. Impersonate-* (User, Group, Uid, the Impersonate-Extra-* family);
       * X-Remote-* (the front-proxy authenticator's user, groups, extras); X-Real-Ip (the API server adds it
       * to the audit log's sourceIPs; X-Forwarded-For is attache's own).
       */
      identityHeaders: ["Impersonate-*", "X-Remote-*", "X-Real-Ip"] as readonly string[],
    },
    maxBodySize: 10 * 1024 * 1024,
    streaming: false,
    circuitBreaker: {
      enabled: true,
      errorThresholdPercentage: 50,
      /** Fewer calls than this in the window never open the breaker: one failed request is not an outage. */
      volumeThreshold: 20,
      resetTimeout: 10_000,
      rollingCountTimeout: 10_000,
      rollingCountBuckets: 10,
    },
    pool: {
      keepAlive: true,
      maxSockets: 256,
      /**
       * Below the 5s keep-alive timeout of Node servers (and nginx's 75s, Go's 90s): a socket the
       * upstream is about to close is retired by us first, avoiding ECONNRESET on reuse.
       */
      idleTimeout: 4_000,
      connectTimeout: 5_000,
    },
    retry: {
      on: ["connect-failure", "reset", 502, 503, 504] as Array<"connect-failure" | "reset" | "timeout" | "5xx" | number>,
      /** Envoy's retry back-off base (25ms) and cap (10 × base). */
      backoff: 25,
      maxBackoff: 250,
    },
    outlierDetection: {
      consecutiveFailures: 5,
      ejectionTime: 30_000,
      /** Never eject more than half the endpoints: a cluster-wide problem must not become an outage. */
      maxEjectionPercent: 50,
    },
    balance: "round-robin" as const,
    /**
     * Re-resolve period of `discovery.dns` when `interval` is not set: the lifetime of a CoreDNS cache entry
     * for a Service is 5–30 s; 10 s notices a scaled Deployment within about one readiness period without
     * loading the resolver (one A + one AAAA query).
     */
    dnsInterval: 10_000,
  },
} as const;
