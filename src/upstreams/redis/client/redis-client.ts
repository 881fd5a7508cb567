/**
 * The route's connection to Redis: one ioredis instance (url, or sentinels + name), credentials from
 * files, TLS, reconnect with capped back-off, and commands that fail fast while Redis is away.
 *
 * Replies are read twice: ioredis parses them for its own bookkeeping, and a tap on the same socket
 * (reply-tap.ts, run just before ioredis' parser on every chunk) finds each reply frame's bounds and keeps its bytes exactly as Redis sent them, building no value. ioredis' parsed replies cannot tell `+OK` from `$2 OK`, nor a null array
 * from a null bulk (docs/redis.md), and the RESP listener must not change either.
 * The tap pairs frames with commands through ioredis' command queue: the k-th frame completed in a
 * chunk answers the k-th queue entry, because ioredis shifts that queue once per reply and only
 * after the tap has seen the chunk. That holds on a connection that never enters subscriber or
 * monitor mode, which is why SUBSCRIBE, MONITOR and friends never go over this connection.
 *
 * Sentinel works through failover/sentinel-watch.ts (an ioredis Connector: every sentinel asked at once with
 * a deadline, the last known master as fallback, failover events followed at once); describe()
 * shows the master and since when. connection-watch.ts resets a connection whose Redis stops
 * answering. Cluster is an ioredis Cluster: it routes each command to its slot's master and
 * follows MOVED/ASK; the tap sits on every node's connection, and a redirected command is tagged
 * again by the node that answers it last. Cluster commands take ioredis' Command path (the raw path
 * needs one socket); commands/cluster-split.ts splits multi-key commands across slots where that is safe.
 */
import { Cluster, Command, Redis, type RedisOptions } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import type { ResolvedRoute } from "../../../config/validate.js";
import { AttacheError } from "../../../errors.js";
import { log } from "../../../observability/log.js";
import { metrics } from "../../../observability/metrics.js";
import { tlsOptions } from "../../http/tls.js";
import { RouteCredentials } from "./credentials.js";
import { Outages } from "./outages.js";
import { DedicatedConnection, type DedicatedTarget } from "./dedicated-connection.js";
import { enqueue, resetSocket, socketOf } from "./ioredis-tap.js";
import { clusterOptions, commandName, fromParsed } from "./ioredis-options.js";
import { parseHostPort, urlHostPort } from "../../../net/address.js";
import type { RawCommand } from "./raw-command.js";
import { FRAME, tapReplies, type Tagged } from "./reply-tap.js";
import type { Frame } from "../resp/value.js";
import { abortable, type DeadlineSignal } from "../../../resilience/deadline.js";
import { reconnectDelay } from "../../../resilience/backoff.js";
import { clusterFailure } from "../failover/cluster-errors.js";
import { SlotWatch } from "../failover/cluster-slots.js";
import { ConnectionWatch } from "./connection-watch.js";
import { SentinelWatch, type Address } from "../failover/sentinel-watch.js";

/** Reconnect back-off (backoff.ts, full jitter): 50ms doubling to 1s. Redis back from a restart is in use within ~1s. */
const RECONNECT_BASE_MS = 50;
const RECONNECT_CAP_MS = 1_000;
/** A health probe unanswered this long resets the connection (connection-watch.ts). */
const PROBE_DEADLINE_MS = 2_000;
/** Bound on one sentinel's answer. */
const SENTINEL_TIMEOUT_MS = 1_000;
/** A cluster failure (MOVED to a dead node, CLUSTERDOWN...) is logged at most this often per route. */
const CLUSTER_LOG_EVERY_MS = 5_000;

export interface RedisTargetDescription {
  mode: "url" | "sentinel" | "cluster";
  target: string;
  db: number;
  tls: boolean;
}

export class RedisClient {
  readonly redis: Redis | Cluster;
  private readonly route: string;
  private readonly routeConfig: NonNullable<ResolvedRoute["upstream"]["redis"]>;
  /** The route's database (from the url). */
  readonly db: number;
  private readonly endpoint: { host: string; port: number } | undefined;
  private readonly tls: ConnectionOptions | undefined;
  private readonly login: RouteCredentials;
  private readonly connectTimeout: number;
  private readonly sentinel: SentinelWatch | undefined;
  private readonly outages: Outages;
  private readonly watch: ConnectionWatch | undefined;
  private clusterLoggedAt = 0;
  /** Cluster: slots changing hands. */
  private readonly slots: SlotWatch | undefined;
  /** Resolves at the first ready; shared by the commands that wait for it (whenReady). */
  private firstReady: Promise<void> | undefined;
  private corked: { uncork(): void } | undefined;
  private closed = false;
  private warnedUntapped = false;
  readonly mode: "url" | "sentinel" | "cluster";
  /** Shared commands may take the raw path (writeRaw): one socket, a tap in front of ioredis' parser. */
  readonly fastPath: boolean;
  /** Sentinel: the master ioredis connected to last, and since when. */
  private master: { address: string; since: Date } | undefined;

  constructor(route: ResolvedRoute) {
    const config = route.upstream.redis!;
    this.route = route.name;
    this.routeConfig = config;
    this.outages = new Outages(route.name, () => this.closed);
    this.login = new RouteCredentials(config);
    this.connectTimeout = route.pool.connectTimeout;

    let useTls = config.tls !== undefined;
    if (config.url) {
      const url = new URL(config.url);
      useTls ||= url.protocol === "rediss:";
      this.endpoint = urlHostPort(url);
      this.db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) || 0 : 0;
      if (url.username) this.login.fromUrl.username = decodeURIComponent(url.username);
      if (url.password) this.login.fromUrl.password = decodeURIComponent(url.password);
      this.mode = "url";
    } else {
      this.endpoint = undefined;
      this.db = 0;
      this.mode = config.cluster ? "cluster" : "sentinel";
    }
    this.fastPath = this.mode !== "cluster";
    this.tls = useTls ? (tlsOptions(config.tls) as ConnectionOptions) : undefined;

    const options: RedisOptions = {
      ...this.login.current(),
      db: this.db,
      ...(this.tls ? { tls: this.tls } : {}),
      connectionName: `attache:${route.name}`,
      connectTimeout: this.connectTimeout,
      // Fail fast while Redis is away: nothing is queued offline, nothing is resent after a
      // reconnect (a resent INCR would run twice), and in-flight commands fail at the first disconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      // At least 1ms: ioredis takes 0 as "reconnect in the same turn".
      retryStrategy: (times) => reconnectDelay(times, RECONNECT_BASE_MS, RECONNECT_CAP_MS),
      // A master demoted to a replica answers writes with READONLY: reconnect (Sentinel names the new one).
      reconnectOnError: config.sentinels ? (err) => (err.message.startsWith("READONLY") ? 1 : false) : null,
      noDelay: true,
      keepAlive: 30_000,
    };
    if (config.url) Object.assign(options, { host: this.endpoint!.host, port: this.endpoint!.port });
    else if (config.sentinels) {
      this.sentinel = new SentinelWatch({
        route: route.name,
        name: config.name!,
        sentinels: config.sentinels.map((s) => parseHostPort(s, "sentinels")),
        // Sentinels take the route's password, as before (a sentinel without one ignores it).
        credentials: () => (this.login.password ? { password: this.login.password.value } : {}),
        tls: this.tls,
        timeout: Math.min(SENTINEL_TIMEOUT_MS, this.connectTimeout),
        moved: (to, why) => this.masterMoved(to, why),
      });
      options.Connector = this.sentinel.connector();
    }
    if (config.cluster) {
      const redis = new Cluster(
        config.cluster.map((s) => parseHostPort(s, "cluster")),
        clusterOptions(options, this.connectTimeout),
      );
      // Every node connection gets the tap (nodes connect lazily, and come and go with the topology).
      redis.on("+node", (node: Redis) => node.on("connect", () => tapReplies(node, this.route)));
      this.slots = new SlotWatch(redis);
      // Not expected (the retry strategy never gives up), but a route must never stay dead.
      redis.on("end", () => {
        if (!this.closed)
          setTimeout(() => !this.closed && redis.status === "end" && redis.connect().catch(() => {}), RECONNECT_CAP_MS).unref();
      });
      this.redis = redis;
    } else {
      const redis = new Redis(options);
      redis.on("connect", () => tapReplies(redis, this.route));
      redis.on("ready", () => {
        this.noteMaster(redis);
        this.learnVersion(redis);
      });
      this.redis = redis;
      this.watch = this.watchConnection(redis);
    }
    this.outages.watch(this.redis, () => this.sentinel?.connected());
    this.login.watch(() => this.rotated());
  }

  get status(): string {
    return this.redis.status;
  }

  /** The server's version, from INFO on each connect (for HELLO / INFO answered by attache). */
  serverVersion: string | undefined;

  /**
   * Run one command (args[0] is its name, upper-case for known commands) on the shared connection.
   * Resolves with the reply frame, Redis error replies included; rejects with upstream_unreachable
   * when Redis cannot be reached, or with the signal's reason (the route deadline).
   */
  async call(args: readonly Buffer[], signal?: DeadlineSignal): Promise<Frame> {
    if (this.redis.status !== "ready") await this.whenReady(signal);
    const cmd: Tagged = new Command(commandName(args[0]!), args.slice(1));
    this.cork();
    void this.redis.sendCommand(cmd);
    let result: unknown;
    try {
      result = await abortable(cmd.promise, signal);
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      const frame = cmd[FRAME];
      // Cluster: what ioredis gave up on (redirects exhausted, CLUSTERDOWN, MOVED to a node that is
      // gone) is the cluster failing, not an answer for the app.
      const failure = this.mode === "cluster" ? clusterFailure(err, frame) : undefined;
      if (failure) throw this.clusterError(failure, err);
      if (frame && frame.raw[0] === 45 /* - */) return frame;
      throw this.unreachable(err);
    }
    const frame = cmd[FRAME];
    if (frame) return frame;
    // Not expected: the tap and ioredis disagree. Degrade to ioredis' parse rather than fail.
    if (!this.warnedUntapped) {
      this.warnedUntapped = true;
      log.warn({ route: this.route }, "redis reply frame missing; replying from ioredis' parsed value (types may differ)");
    }
    return { value: fromParsed(result), raw: Buffer.alloc(0) };
  }

  /**
   * Whether raw commands can be written now: "ready" (write), "wait" (the first connection is still
   * coming: wait for it with `whenReady`), or "down" (fail fast: Redis was reachable and is away now).
   */
  rawState(): "ready" | "wait" | "down" {
    const status = this.redis.status;
    if (status === "ready") return this.redis instanceof Redis && socketOf(this.redis)?.writable ? "ready" : "down";
    if (this.closed || this.outages.everReady || !["wait", "connecting", "connect"].includes(status)) return "down";
    return "wait";
  }

  /**
   * Write encoded commands in one socket write, and queue them for ioredis' reply bookkeeping, in
   * the same order. Only when `rawState()` is "ready".
   */
  writeRaw(wire: Buffer, commands: readonly RawCommand[]): void {
    const redis = this.redis as Redis;
    socketOf(redis)!.write(wire);
    // ioredis only reads its queue entries: one entry stands in every position of a command's replies.
    for (const command of commands) enqueue(redis, command, command.expected, this.db);
  }

  /** Before the first ready: resolves once it is (bounded by `signal`); rejects when Redis is away. */
  ready(signal?: DeadlineSignal): Promise<void> {
    return this.whenReady(signal);
  }

  /** Cluster: the node ("host:port") a command for `slot` goes to now, as ioredis' slot map says. */
  clusterNodeFor(slot: number): string | undefined {
    return this.slots?.nodeFor(slot);
  }

  /** Cluster: a slot changed hands just now (a reshard or a failover is under way: failover/cluster-slots.ts). */
  slotsMoving(): boolean {
    return this.slots?.moving() ?? false;
  }

  /** Where and how a dedicated connection connects: the same server and credentials as the shared one. */
  dedicatedTarget(): DedicatedTarget {
    let endpoint = this.endpoint;
    if (this.redis instanceof Cluster) {
      // XXX(redis owner): one master for every dedicated connection. Pub/sub works from any node;
      // a transaction or blocking command on keys of another master gets Redis' own MOVED error.
      const node = this.redis.status === "ready" ? this.redis.nodes("master")[0] : undefined;
      if (!node) throw this.unreachable(new Error("cluster not ready"));
      endpoint = { host: node.options.host ?? "127.0.0.1", port: node.options.port ?? 6379 };
    } else if (!endpoint) {
      // Sentinel: the master ioredis resolved is the other end of its live socket.
      const stream = this.redis instanceof Redis ? socketOf(this.redis) : undefined;
      if (this.redis.status !== "ready" || !stream?.remoteAddress || !stream.remotePort)
        throw this.unreachable(new Error("no master resolved yet"));
      endpoint = { host: stream.remoteAddress, port: stream.remotePort };
    }
    const { username, password } = this.login.current();
    return { ...endpoint, tls: this.tls, username, password, db: this.db, connectTimeout: this.connectTimeout };
  }

  /** `protocol` 3: a RESP3 connection (for a RESP3 client of the listener). */
  async openDedicated(protocol: 2 | 3 = 2): Promise<DedicatedConnection> {
    const target = this.dedicatedTarget();
    let conn: DedicatedConnection;
    try {
      conn = await DedicatedConnection.open(target, protocol);
    } catch (err) {
      throw this.unreachable(err);
    }
    const gauge = metrics.redisDedicatedConnections.labels({ route: this.route });
    gauge.inc();
    conn.once("close", () => gauge.dec());
    return conn;
  }

  describe(): RedisTargetDescription & Record<string, unknown> {
    const config = this.routeConfig;
    const target = this.endpoint
      ? `${this.endpoint.host}:${this.endpoint.port}`
      : config.cluster
        ? config.cluster.join(",")
        : `${config.name}@${(config.sentinels ?? []).join(",")}`;
    return {
      mode: this.mode,
      target,
      ...(this.master ? { master: this.master.address, masterSince: this.master.since.toISOString() } : {}),
      ...(this.redis instanceof Cluster && this.redis.status === "ready"
        ? { masters: this.redis.nodes("master").map((n) => `${n.options.host}:${n.options.port}`) }
        : {}),
      db: this.db,
      tls: this.tls !== undefined,
      status: this.redis.status,
      ...this.outages.describe(),
      ...(this.sentinel ? { sentinels: this.sentinel.describe() } : {}),
      ...this.login.describe(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    this.sentinel?.close();
    this.login.close();
    this.redis.disconnect();
  }

  /** When the connection was last ready (ms): the route's breaker closes if it opened before (breaker.ts). */
  get readyAt(): number {
    return this.outages.readyAt;
  }

  unreachable(err: unknown): AttacheError {
    return this.outages.unreachable(err);
  }

  /** A command refused without going to Redis: the connection is down and being re-established. */
  down(): AttacheError {
    return this.outages.down(this.redis.status);
  }

  /** A cluster failure (failover/cluster-errors.ts) as an upstream error, logged at most every few seconds. */
  private clusterError(cause: string, err: unknown): AttacheError {
    const now = Date.now();
    if (now - this.clusterLoggedAt >= CLUSTER_LOG_EVERY_MS) {
      this.clusterLoggedAt = now;
      log.warn({ route: this.route, err: cause }, "redis cluster command failed");
    }
    return new AttacheError("upstream_unreachable", `route ${this.route}: redis cluster unavailable (${cause})`, {
      route: this.route,
      cause: err,
    });
  }

  /** Health check, reset and restart for a standalone or Sentinel connection. */
  private watchConnection(redis: Redis): ConnectionWatch {
    return new ConnectionWatch(redis, {
      probe: this.mode === "sentinel" ? "ROLE" : "PING",
      deadline: PROBE_DEADLINE_MS,
      connectTimeout: this.connectTimeout,
      backoff: { base: RECONNECT_BASE_MS, cap: RECONNECT_CAP_MS },
      reset: (why) => {
        this.outages.resetBy(why);
      },
      live: () => !this.closed,
    });
  }

  /** Sentinel said the master moved: leave the old one now (its writes would be lost when it resyncs). */
  private masterMoved(to: Address, why: string): void {
    if (this.closed || !(this.redis instanceof Redis)) return;
    const from = this.master?.address;
    log.warn({ route: this.route, from, to: `${to.host}:${to.port}`, why }, "redis master moved; reconnecting");
    const cause = `master moved to ${to.host}:${to.port} (${why})`;
    this.outages.resetBy(cause);
    if (this.redis.status === "ready" || this.redis.status === "connect") resetSocket(this.redis);
  }

  /**
   * A rotated secret: the next (re)connect uses it, and the live connection re-authenticates now
   * with AUTH, so a rotation costs no reconnect and no failed command.
   */
  private rotated(): void {
    const creds = this.login.current();
    if (this.redis instanceof Cluster) {
      // New node connections log in with the new secret; live ones keep their login until they reconnect.
      Object.assign(this.redis.options.redisOptions ?? {}, creds);
      for (const node of this.redis.nodes()) Object.assign(node.options, creds);
      return;
    }
    Object.assign(this.redis.options, creds);
    if (this.redis.status !== "ready" || creds.password === undefined) return;
    const args = creds.username ? [creds.username, creds.password] : [creds.password];
    this.redis.call("AUTH", ...args).then(
      () => log.info({ route: this.route }, "redis re-authenticated with the rotated secret"),
      (err: Error) =>
        log.warn({ route: this.route, err: err.message }, "redis refused the rotated secret; the connection keeps its previous login"),
    );
  }

  /** Before the first ready: wait for it (bounded by the deadline). After: Redis is away, fail now. */
  private whenReady(signal?: DeadlineSignal): Promise<void> {
    const status = this.redis.status;
    if (this.closed || this.outages.everReady || !["wait", "connecting", "connect"].includes(status)) {
      return Promise.reject(this.down());
    }
    // One pair of listeners for every waiting command (a burst at start-up would add hundreds); they
    // resume in the order they came, which keeps each client's order.
    this.firstReady ??= new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        this.redis.off("ready", onReady);
        this.redis.off("error", onError);
        this.firstReady = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onError = (err: Error) => done(this.unreachable(err));
      this.redis.once("ready", onReady);
      this.redis.once("error", onError);
    });
    // Handled by every waiter; this keeps a rejection nobody waits for any more from being "unhandled".
    this.firstReady.catch(() => {});
    return abortable(this.firstReady, signal);
  }

  /** One socket write per event-loop turn for all commands of all clients (about 2× in the bench: test/bench/README.md). */
  private cork(): void {
    if (this.corked) return;
    const stream = this.redis instanceof Redis ? socketOf(this.redis) : undefined;
    if (!stream || typeof stream.cork !== "function") return;
    stream.cork();
    this.corked = stream;
    setImmediate(() => {
      this.corked = undefined;
      stream.uncork();
    });
  }

  /** Sentinel: note the master the connection went to, and when it changed. */
  /** ioredis' ready check reads INFO but keeps nothing of it: one INFO server per connect (a failover may change the version). */
  private learnVersion(redis: Redis): void {
    redis.info("server").then(
      (text) => (this.serverVersion = /^redis_version:(\S+)/m.exec(text)?.[1] ?? this.serverVersion),
      () => {},
    );
  }

  private noteMaster(redis: Redis): void {
    if (this.mode !== "sentinel") return;
    const stream = socketOf(redis);
    if (!stream?.remoteAddress) return;
    const address = `${stream.remoteAddress}:${stream.remotePort}`;
    if (this.master?.address === address) return;
    if (this.master) log.info({ route: this.route, from: this.master.address, to: address }, "redis master changed");
    this.master = { address, since: new Date() };
  }
}
