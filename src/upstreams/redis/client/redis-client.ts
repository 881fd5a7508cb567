/**
 * The route's connection to Redis: one ioredis instance (url, or sentinels + name), credentials from
 * files, TLS, reconnect with capped back-off, and commands that fail fast while Redis is away.
 *
 * Replies are read twice: ioredis parses them for its own bookkeeping, and a tap on the same socket
 * (resp/reply-scanner.ts' ReplyScanner, run just before ioredis' parser on every chunk) finds each reply
 * frame's bounds and keeps its bytes exactly as Redis sent them, building no value. ioredis' parsed replies cannot tell `+OK` from `$2 OK`, nor a null array
 * from a null bulk (ARCHITECTURE.md, library traps), and the RESP listener must not change either.
 * The tap pairs frames with commands through ioredis' command queue: the k-th frame completed in a
 * chunk answers the k-th queue entry, because ioredis shifts that queue once per reply and only
 * after the tap has seen the chunk. That holds on a connection that never enters subscriber or
 * monitor mode, which is why SUBSCRIBE, MONITOR and friends never go over this connection.
 *
 * Sentinel works through sentinel-watch.ts (an ioredis Connector: every sentinel asked at once with
 * a deadline, the last known master as fallback, failover events followed at once); describe()
 * shows the master and since when. connection-watch.ts resets a connection whose Redis stops
 * answering. Cluster (issue 7) is an ioredis Cluster: it routes each command to its slot's master and
 * follows MOVED/ASK; the tap sits on every node's connection, and a redirected command is tagged
 * again by the node that answers it last. Cluster commands take ioredis' Command path (the raw path
 * needs one socket); cluster-split.ts splits multi-key commands across slots where that is safe.
 */
import { Cluster, Command, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { exists } from "@ioredis/commands";
import type { ConnectionOptions } from "node:tls";
import type { ResolvedRoute } from "../../../config/validate.js";
import { FileSecret } from "../../../config/secrets.js";
import { AttacheError } from "../../../errors.js";
import { log } from "../../../observability/log.js";
import { metrics } from "../../../observability/metrics.js";
import { tlsOptions } from "../../http/tls.js";
import { DedicatedConnection, type DedicatedTarget } from "./dedicated-connection.js";
import { enqueue, queuedAt, resetSocket, serverVersionOf, socketOf, type QueuedCommand } from "./ioredis-tap.js";
import { RawFrame } from "../resp/reply-parser.js";
import { ReplyScanner } from "../resp/reply-scanner.js";
import { type Frame, type RespValue } from "../resp/value.js";
import { abortable, type DeadlineSignal } from "../../../resilience/deadline.js";
import { backoffDelay } from "../../../resilience/backoff.js";
import { notCounted } from "../../../resilience/breaker.js";
import { clusterFailure } from "../failover/cluster-errors.js";
import { ConnectionWatch } from "./connection-watch.js";
import { SentinelWatch, type Address } from "../failover/sentinel-watch.js";

/** How often a rotated password/username file is looked for (FileSecret does the watching). */
const SECRET_POLL_MS = 1_000;
/** Reconnect back-off (backoff.ts, full jitter): 50ms doubling to 1s. Redis back from a restart is in use within ~1s. */
const RECONNECT_BASE_MS = 50;
const RECONNECT_CAP_MS = 1_000;
/** A health probe unanswered this long resets the connection (connection-watch.ts). */
const PROBE_DEADLINE_MS = 2_000;
/** Bound on one sentinel's answer. */
const SENTINEL_TIMEOUT_MS = 1_000;
/** Cluster: how long after a slot changed hands clients' commands per slot go one at a time (cluster-order.ts). */
const SLOTS_SETTLE_MS = 2_000;
/** A cluster failure (MOVED to a dead node, CLUSTERDOWN...) is logged at most this often per route. */
const CLUSTER_LOG_EVERY_MS = 5_000;

const FRAME = Symbol("attache.frame");
type Tagged = Command & { [FRAME]?: Frame };

/**
 * Commands on the fast path (issue 10): their bytes are written to ioredis' socket as they are,
 * and they stand in ioredis' command queue in place of Commands, one entry per reply expected, so
 * ioredis keeps pairing replies with the queue (and its reconnect, AUTH and ready check keep
 * working on the same socket) while the replies themselves come from the tap, with their exact
 * bytes. One RawCommand may be many commands a client sent back to back (`expected` replies).
 * ioredis sees a command named "attache", which matches none of its flag tables (subscriber mode,
 * monitor, blocking). No promise, no Command object, no argument conversion per command.
 */
export abstract class RawCommand implements QueuedCommand {
  /** What ioredis' bookkeeping reads: a name in none of its flag tables, no arguments. */
  readonly name = "attache";
  readonly args: readonly never[] = [];
  settled = false;
  /** Replies the tap has handed over so far. */
  protected received = 0;
  /** ioredis' calls for replies it parsed (resolve, or reject for an error reply). */
  private answered = 0;

  constructor(
    /** The commands' bytes, as Redis is to receive them. */
    readonly wire: Buffer,
    /** Replies expected: one per command in `wire`. */
    readonly expected: number,
  ) {}

  /** The next reply, b[start, end). Called at most `expected` times, and never after `failed`. */
  protected abstract replied(b: Buffer, start: number, end: number): void;
  /** The connection failed before every reply came (ioredis flushed its queue). */
  protected abstract failed(err: Error): void;
  /** The tap is done with a chunk: replies held back to be joined with the next ones should go now. */
  chunkEnd(): void {}

  /** From the tap. */
  frame(b: Buffer, start: number, end: number): void {
    if (this.settled) return;
    this.received++;
    this.replied(b, start, end);
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.failed(err);
  }

  /** ioredis' own parse of a reply: the tap has delivered it already. */
  resolve(): void {
    this.answered++;
  }

  /**
   * ioredis: an error reply (the tap has delivered it already), or a flushed queue (the connection
   * is lost), which is a call for a reply the tap has not seen.
   */
  reject(err: Error): void {
    if (++this.answered > this.received) this.fail(err);
  }
}

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
  private readonly username: FileSecret | undefined;
  private readonly password: FileSecret | undefined;
  private readonly urlCredentials: { username?: string; password?: string };
  private readonly secretTimer: NodeJS.Timeout | undefined;
  private readonly connectTimeout: number;
  private secretsSeen: number;
  private everReady = false;
  private lastError: Error | undefined;
  /** Since when the connection is away, and why (for the errors clients get), until it is ready again. */
  private outage: { since: Date; cause: string } | undefined;
  /** When the connection was last ready (ms): the route's breaker closes if it opened before (breaker.ts). */
  readyAt = 0;
  private readonly sentinel: SentinelWatch | undefined;
  private readonly watch: ConnectionWatch | undefined;
  private clusterLoggedAt = 0;
  /** Cluster: each slot's node at the last refresh, and when a slot was last seen changing hands. */
  private slotMap: Array<string | undefined> = [];
  private slotsMovedAt = 0;
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
    this.username = config.usernameFile ? new FileSecret(config.usernameFile) : undefined;
    this.password = config.passwordFile ? new FileSecret(config.passwordFile) : undefined;
    this.secretsSeen = this.secretStamp();
    this.connectTimeout = route.pool.connectTimeout;

    let useTls = config.tls !== undefined;
    this.urlCredentials = {};
    if (config.url) {
      const url = new URL(config.url);
      useTls ||= url.protocol === "rediss:";
      this.endpoint = { host: url.hostname.replace(/^\[|\]$/g, ""), port: url.port ? Number(url.port) : 6379 };
      this.db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) || 0 : 0;
      if (url.username) this.urlCredentials.username = decodeURIComponent(url.username);
      if (url.password) this.urlCredentials.password = decodeURIComponent(url.password);
      this.mode = "url";
    } else {
      this.endpoint = undefined;
      this.db = 0;
      this.mode = config.cluster ? "cluster" : "sentinel";
    }
    this.fastPath = this.mode !== "cluster";
    this.tls = useTls ? (tlsOptions(config.tls) as ConnectionOptions) : undefined;

    const options: RedisOptions = {
      ...this.credentials(),
      db: this.db,
      ...(this.tls ? { tls: this.tls } : {}),
      connectionName: `attache:${route.name}`,
      connectTimeout: this.connectTimeout,
      // Fail fast while Redis is away (issue 6): nothing is queued offline, nothing is resent after a
      // reconnect (a resent INCR would run twice), and in-flight commands fail at the first disconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      // At least 1ms: ioredis takes 0 as "reconnect in the same turn".
      retryStrategy: (times) => backoffDelay(times, RECONNECT_BASE_MS, RECONNECT_CAP_MS) + 1,
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
        sentinels: config.sentinels.map(splitHostPort),
        // Sentinels take the route's password, as before (a sentinel without one ignores it).
        credentials: () => (this.password ? { password: this.password.value } : {}),
        tls: this.tls,
        timeout: Math.min(SENTINEL_TIMEOUT_MS, this.connectTimeout),
        moved: (to, why) => this.masterMoved(to, why),
      });
      options.Connector = this.sentinel.connector();
    }
    if (config.cluster) {
      const redis = new Cluster(config.cluster.map(splitHostPort), clusterOptions(options, this.connectTimeout));
      // Every node connection gets the tap (nodes connect lazily, and come and go with the topology).
      redis.on("+node", (node: Redis) => node.on("connect", () => this.tap(node)));
      this.watchSlots(redis);
      // Not expected (the retry strategy never gives up), but a route must never stay dead.
      redis.on("end", () => {
        if (!this.closed) setTimeout(() => !this.closed && redis.status === "end" && redis.connect().catch(() => {}), RECONNECT_CAP_MS).unref();
      });
      this.redis = redis;
    } else {
      const redis = new Redis(options);
      redis.on("connect", () => this.tap(redis));
      redis.on("ready", () => this.noteMaster(redis));
      this.redis = redis;
      this.watch = this.watchConnection(redis);
    }
    this.watchOutages();
    this.secretTimer = this.username || this.password ? setInterval(() => this.checkSecrets(), SECRET_POLL_MS).unref() : undefined;
  }

  get status(): string {
    return this.redis.status;
  }

  /** The server's version from ioredis' ready check (for HELLO / INFO answered by attache). */
  get serverVersion(): string | undefined {
    return this.redis instanceof Redis ? serverVersionOf(this.redis) : undefined;
  }

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
    if (this.closed || this.everReady || !["wait", "connecting", "connect"].includes(status)) return "down";
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
    if (!(this.redis instanceof Cluster)) return undefined;
    const node = this.redis.slots[slot]?.[0];
    // A redirect changed the map since the last refresh: slots are moving.
    if (node !== this.slotMap[slot]) this.slotsMovedAt = Date.now();
    return node;
  }

  /** Cluster: a slot changed hands in the last SLOTS_SETTLE_MS (a reshard or a failover is under way). */
  slotsMoving(): boolean {
    return Date.now() - this.slotsMovedAt < SLOTS_SETTLE_MS;
  }

  /** Cluster: after each slot map refresh, note whether any slot changed hands. */
  private watchSlots(cluster: Cluster): void {
    cluster.on("refresh", () => {
      const now = cluster.slots.map((nodes) => nodes?.[0]);
      if (this.slotMap.length > 0 && now.some((node, slot) => node !== this.slotMap[slot])) this.slotsMovedAt = Date.now();
      this.slotMap = now;
    });
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
      if (this.redis.status !== "ready" || !stream?.remoteAddress || !stream.remotePort) throw this.unreachable(new Error("no master resolved yet"));
      endpoint = { host: stream.remoteAddress, port: stream.remotePort };
    }
    const { username, password } = this.credentials();
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
    const target = this.endpoint ? `${this.endpoint.host}:${this.endpoint.port}` : config.cluster ? config.cluster.join(",") : `${config.name}@${(config.sentinels ?? []).join(",")}`;
    return {
      mode: this.mode,
      target,
      ...(this.master ? { master: this.master.address, masterSince: this.master.since.toISOString() } : {}),
      ...(this.redis instanceof Cluster && this.redis.status === "ready" ? { masters: this.redis.nodes("master").map((n) => `${n.options.host}:${n.options.port}`) } : {}),
      db: this.db,
      tls: this.tls !== undefined,
      status: this.redis.status,
      ...(this.lastError ? { lastError: this.lastError.message } : {}),
      ...(this.outage ? { downSince: this.outage.since.toISOString(), downCause: this.outage.cause } : {}),
      ...(this.sentinel ? { sentinels: this.sentinel.describe() } : {}),
      ...(this.password ? { passwordFile: this.password.path, passwordChangedAt: this.password.changedAt.toISOString() } : {}),
      ...(this.username ? { usernameFile: this.username.path } : {}),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    this.sentinel?.close();
    if (this.secretTimer) clearInterval(this.secretTimer);
    this.username?.close();
    this.password?.close();
    this.redis.disconnect();
  }

  unreachable(err: unknown): AttacheError {
    if (err instanceof AttacheError) return err;
    const detail = this.lastError?.message ?? (err as Error)?.message ?? String(err);
    return new AttacheError("upstream_unreachable", `route ${this.route}: redis unreachable (${detail})`, { route: this.route, cause: err });
  }

  /**
   * A command refused without going to Redis: the connection is down and being re-established. The
   * message says since when and why; the breaker does not count it (breaker.ts, notCounted).
   */
  down(): AttacheError {
    const outage = this.outage;
    const why = outage ? `connection down since ${outage.since.toISOString()}: ${outage.cause}` : `connection ${this.redis.status}`;
    return notCounted(new AttacheError("upstream_unreachable", `route ${this.route}: redis unreachable (${why})`, { route: this.route, cause: this.lastError }));
  }

  /** A cluster failure (cluster-errors.ts) as an upstream error, logged at most every few seconds. */
  private clusterError(cause: string, err: unknown): AttacheError {
    const now = Date.now();
    if (now - this.clusterLoggedAt >= CLUSTER_LOG_EVERY_MS) {
      this.clusterLoggedAt = now;
      log.warn({ route: this.route, err: cause }, "redis cluster command failed");
    }
    return new AttacheError("upstream_unreachable", `route ${this.route}: redis cluster unavailable (${cause})`, { route: this.route, cause: err });
  }

  /** Outages: one warning when one starts, one line when it ends; the cause kept for the errors clients get. */
  private watchOutages(): void {
    this.redis.on("ready", () => {
      if (this.outage) log.info({ route: this.route, downSince: this.outage.since.toISOString() }, "redis connection restored");
      this.everReady = true;
      this.lastError = undefined;
      this.outage = undefined;
      this.readyAt = Date.now();
      this.sentinel?.connected();
    });
    this.redis.on("error", (err: Error) => {
      this.lastError = err;
      this.wentDown(err.message);
    });
    this.redis.on("close", () => this.wentDown(this.lastError?.message ?? "the connection closed"));
    this.redis.on("end", () => {
      if (!this.closed) this.wentDown(this.lastError?.message ?? "the client ended");
    });
  }

  private wentDown(cause: string): void {
    if (this.closed) return;
    if (this.outage) {
      // The first cause is kept unless a later error says more (a refused reconnect after a reset).
      if (this.outage.cause.startsWith("the connection closed")) this.outage.cause = cause;
      return;
    }
    this.outage = { since: new Date(), cause };
    log.warn({ route: this.route, err: cause }, "redis connection lost; reconnecting");
  }

  /** Health check, reset and restart for a standalone or Sentinel connection. */
  private watchConnection(redis: Redis): ConnectionWatch {
    return new ConnectionWatch(redis, {
      probe: this.mode === "sentinel" ? "ROLE" : "PING",
      deadline: PROBE_DEADLINE_MS,
      connectTimeout: this.connectTimeout,
      backoff: { base: RECONNECT_BASE_MS, cap: RECONNECT_CAP_MS },
      reset: (why) => {
        this.wentDown(why);
        if (this.outage) this.outage.cause = why;
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
    this.wentDown(cause);
    if (this.outage) this.outage.cause = cause;
    if (this.redis.status === "ready" || this.redis.status === "connect") resetSocket(this.redis);
  }

  private credentials(): { username?: string; password?: string } {
    const username = this.username?.value ?? this.urlCredentials.username;
    const password = this.password?.value ?? this.urlCredentials.password;
    return { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
  }

  private secretStamp(): number {
    return (this.username?.changedAt.getTime() ?? 0) + (this.password?.changedAt.getTime() ?? 0);
  }

  /**
   * A rotated secret: the next (re)connect uses it, and the live connection re-authenticates now
   * with AUTH, so a rotation costs no reconnect and no failed command.
   */
  private checkSecrets(): void {
    const stamp = this.secretStamp();
    if (stamp === this.secretsSeen) return;
    this.secretsSeen = stamp;
    const creds = this.credentials();
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
      (err: Error) => log.warn({ route: this.route, err: err.message }, "redis refused the rotated secret; the connection keeps its previous login"),
    );
  }

  /** Before the first ready: wait for it (bounded by the deadline). After: Redis is away, fail now. */
  private whenReady(signal?: DeadlineSignal): Promise<void> {
    const status = this.redis.status;
    if (this.closed || this.everReady || !["wait", "connecting", "connect"].includes(status)) {
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

  /** One socket write per event-loop turn for all commands of all clients (ARCHITECTURE.md: ~2x). */
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
  private noteMaster(redis: Redis): void {
    if (this.mode !== "sentinel") return;
    const stream = socketOf(redis);
    if (!stream?.remoteAddress) return;
    const address = `${stream.remoteAddress}:${stream.remotePort}`;
    if (this.master?.address === address) return;
    if (this.master) log.info({ route: this.route, from: this.master.address, to: address }, "redis master changed");
    this.master = { address, since: new Date() };
  }

  /** Attach the frame tap to a freshly connected socket, ahead of ioredis' own parser. */
  private tap(redis: Redis): void {
    const stream = socketOf(redis)!;
    // Per chunk: the queue entry the next frame answers, and the last raw command given a reply (the
    // queue is in reply order: only that one can still be waiting for more).
    const at: { k: number; last: RawCommand | undefined } = { k: 0, last: undefined };
    let desynced = false;
    const scanner = new ReplyScanner((b, start, end) => {
      if (desynced) return;
      const command = queuedAt(redis, at.k++);
      if (!command) {
        // A reply no command waits for: every later reply would answer the wrong command (ioredis
        // only reports it and goes on). Reset this connection: its in-flight commands fail with
        // upstream_unreachable, ioredis reconnects, and nothing is paired wrongly meanwhile.
        desynced = true;
        log.warn({ route: this.route }, "redis sent a reply no command waits for; resetting the connection");
        stream.destroy(new Error("redis sent a reply no command waits for"));
        return;
      }
      if (command instanceof RawCommand) {
        command.frame(b, start, end);
        at.last = command;
      } else (command as Tagged)[FRAME] = new RawFrame(b.subarray(start, end));
    });
    stream.prependListener("data", (chunk: Buffer) => {
      at.k = 0;
      try {
        scanner.feed(chunk);
      } catch {
        // ioredis' parser meets the same bytes and treats them as fatal (reconnect).
      }
      const last = at.last;
      at.last = undefined;
      last?.chunkEnd();
    });
  }
}

function splitHostPort(s: string): { host: string; port: number } {
  const cut = s.lastIndexOf(":");
  return { host: s.slice(0, cut).replace(/^\[|\]$/g, ""), port: Number(s.slice(cut + 1)) };
}

/**
 * The Cluster's options from the route's connection options: the same reconnect back-off, a few
 * redirections and quick retries while slots move (a failover or resharding), bounded by the
 * route's deadline anyway.
 *
 * The offline queue stays on: with it off, ioredis refuses a command for a node whose connection is
 * still being made and retries it ~100ms later, behind commands the same client sent after it, so a
 * client's writes to one key land out of order. With it on, such a command waits in that node's
 * queue, in order, until the node is ready. Once the cluster has been ready, a cluster that is away
 * still fails fast (RedisClient.call); a command left waiting is bounded by the route's deadline.
 */
function clusterOptions(node: RedisOptions, connectTimeout: number): ClusterOptions {
  const { retryStrategy, reconnectOnError: _unused, ...redisOptions } = node;
  return {
    redisOptions,
    enableOfflineQueue: true,
    enableReadyCheck: true,
    clusterRetryStrategy: (times) => retryStrategy!(times) as number,
    // MOVED and ASK are followed at once, in the order the replies came, which keeps a client's order.
    // A command retried later (ioredis' delay queue, on a lost node, CLUSTERDOWN or TRYAGAIN) would
    // go behind commands the same client sent after it: those fail at once instead, as an upstream
    // error (cluster-errors.ts), and the client decides.
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    slotsRefreshTimeout: connectTimeout,
  };
}

/** Upper-case a known command's name: ioredis keys its argument/reply transformers (hset, hgetall) by lower-case name. */
function commandName(arg: Buffer): string {
  const text = arg.toString("latin1");
  const lower = text.toLowerCase();
  return exists(lower) ? lower.toUpperCase() : arg.toString();
}

function fromParsed(value: unknown): RespValue {
  if (value === null || value === undefined) return { type: "bulk", value: null };
  if (Buffer.isBuffer(value)) return { type: "bulk", value };
  if (typeof value === "number") return { type: "integer", value: String(value) };
  if (typeof value === "string") return { type: "bulk", value: Buffer.from(value) };
  if (Array.isArray(value)) return { type: "array", value: value.map(fromParsed) };
  if (value instanceof Error) return { type: "error", value: value.message };
  return { type: "bulk", value: Buffer.from(String(value)) };
}
