/**
 * The route's connection to Redis: one ioredis instance (url, or sentinels + name), credentials from
 * files, TLS, reconnect with capped back-off, and commands that fail fast while Redis is away.
 *
 * Replies are read twice: ioredis parses them for its own bookkeeping, and a tap on the same socket
 * (reply-tap.ts, run just before ioredis' parser on every chunk) finds each reply frame's bounds and keeps its bytes exactly as Redis sent them, building no value. ioredis' parsed replies cannot tell `+OK` from `$2 OK`, nor a null array
 * from a null bulk (docs/redis.md), and the RESP listener must not change either. The RESP
 * listener's clients do not use this connection (shared-pipe.ts: one plain pipe per protocol, which
 * follows it); the HTTP API and the health check do.
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
import { Cluster, Command, Redis } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import type { ResolvedRoute } from "../../../config/validate.js";
import type { AttacheError } from "../../../errors.js";
import { log } from "../../../observability/log.js";
import { metrics } from "../../../observability/metrics.js";
import { tlsOptions } from "../../http/tls.js";
import { RouteCredentials } from "./credentials.js";
import { Outages } from "./outages.js";
import { DedicatedConnection, type DedicatedTarget } from "./dedicated-connection.js";
import { clusterOptions, commandName, fromParsed, RECONNECT_BASE_MS, RECONNECT_CAP_MS, sharedOptions } from "./ioredis-options.js";
import { parseHostPort, urlHostPort } from "../../../net/address.js";
import type { RawCommand } from "./raw-command.js";
import { FRAME, tapReplies, type Tagged } from "./reply-tap.js";
import type { Frame } from "../resp/value.js";
import { abortable, type DeadlineSignal } from "../../../resilience/deadline.js";
import { ClusterFailures, clusterFailure } from "../failover/cluster-errors.js";
import { SlotWatch } from "../failover/cluster-slots.js";
import { ConnectionWatch } from "./connection-watch.js";
import { SentinelWatch } from "../failover/sentinel-watch.js";
import { SentinelMaster } from "./sentinel-master.js";
import { useRotatedLogin } from "./rotated-login.js";
import { WritePath } from "./write-path.js";
import { dedicatedTarget } from "./dedicated-target.js";
import { openCluster } from "./cluster-connection.js";
import { ServerVersion } from "./server-version.js";
import { SharedPipe } from "./shared-pipe.js";

/** A health probe unanswered this long resets the connection (connection-watch.ts). */
const PROBE_DEADLINE_MS = 2_000;
/** Bound on one sentinel's answer. */
const SENTINEL_TIMEOUT_MS = 1_000;

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
  private readonly clusterFailures: ClusterFailures;
  /** Cluster: slots changing hands. */
  private readonly slots: SlotWatch | undefined;
  private readonly writes: WritePath;
  private closed = false;
  private warnedUntapped = false;
  readonly mode: "url" | "sentinel" | "cluster";
  /** Shared commands may take the raw path (writeRaw): one socket, a tap in front of ioredis' parser. */
  readonly fastPath: boolean;
  private readonly master: SentinelMaster;
  private readonly version = new ServerVersion();
  /**
   * RESP listener clients' ordinary commands, by protocol (shared-pipe.ts); the HTTP API's go on the
   * ioredis connection. None on a cluster (ioredis routes by slot; RESP3 clients get their own).
   */
  readonly pipes: { readonly 2: SharedPipe; readonly 3: SharedPipe } | undefined;

  constructor(route: ResolvedRoute) {
    const config = route.upstream.redis!;
    this.route = route.name;
    this.routeConfig = config;
    this.outages = new Outages(route.name, () => this.closed);
    this.login = new RouteCredentials(config);
    this.connectTimeout = route.pool.connectTimeout;
    this.master = new SentinelMaster(route.name);
    this.clusterFailures = new ClusterFailures(route.name);

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

    const options = sharedOptions({
      route: route.name,
      login: this.login.current(),
      db: this.db,
      tls: this.tls,
      connectTimeout: this.connectTimeout,
      sentinel: Boolean(config.sentinels),
    });
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
        moved: (to, why) => {
          if (!this.closed && this.redis instanceof Redis) this.master.moved(this.redis, this.outages, to, why);
        },
      });
      options.Connector = this.sentinel.connector();
    }
    if (config.cluster) {
      const seeds = config.cluster.map((s) => parseHostPort(s, "cluster"));
      const redis = openCluster(seeds, clusterOptions(options, this.connectTimeout), route.name, () => this.closed);
      this.slots = new SlotWatch(redis);
      this.redis = redis;
    } else {
      const redis = new Redis(options);
      redis.on("connect", () => tapReplies(redis, this.route));
      redis.on("ready", () => {
        if (this.mode === "sentinel") this.master.noteConnected(redis);
        this.version.learn(redis);
      });
      this.redis = redis;
      this.watch = this.watchConnection(redis);
      const host = {
        rawState: () => this.rawState(),
        ready: (signal?: DeadlineSignal) => this.ready(signal),
        target: () => this.dedicatedTarget(),
        unreachable: (err: unknown) => this.unreachable(err),
        route: this.route,
        answerDeadline: PROBE_DEADLINE_MS,
      };
      const pipes = { 2: new SharedPipe(host, 2), 3: new SharedPipe(host, 3) } as const;
      // Wherever the ioredis connection goes next (a reset, a failover), the pipes follow.
      redis.on("close", () => {
        pipes[2].reset("the shared connection closed");
        pipes[3].reset("the shared connection closed");
      });
      this.pipes = pipes;
    }
    this.writes = new WritePath(this.redis, this.db, this.outages, () => this.closed);
    this.outages.watch(this.redis, () => this.sentinel?.connected());
    this.login.watch(() => useRotatedLogin(this.redis, this.login.current(), this.route));
  }

  get status(): string {
    return this.redis.status;
  }

  /** The server's version, from INFO on each connect (for HELLO / INFO answered by attache). */
  get serverVersion(): string | undefined {
    return this.version.value;
  }

  /**
   * Run one command (args[0] is its name, upper-case for known commands) on the shared connection.
   * Resolves with the reply frame, Redis error replies included; rejects with upstream_unreachable
   * when Redis cannot be reached, or with the signal's reason (the route deadline).
   */
  async call(args: readonly Buffer[], signal?: DeadlineSignal): Promise<Frame> {
    if (this.redis.status !== "ready") await this.writes.whenReady(signal);
    const cmd: Tagged = new Command(commandName(args[0]!), args.slice(1));
    this.writes.cork();
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
      if (failure) throw this.clusterFailures.error(failure, err);
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

  /** Whether raw commands can be written now (write-path.ts): "ready", "wait" (for the first ready) or "down". */
  rawState(): "ready" | "wait" | "down" {
    return this.writes.rawState();
  }

  /** Write encoded commands in one socket write, queued for ioredis' reply bookkeeping (write-path.ts). */
  writeRaw(wire: Buffer, commands: readonly RawCommand[]): void {
    this.writes.writeRaw(wire, commands);
  }

  /** Before the first ready: resolves once it is (bounded by `signal`); rejects when Redis is away. */
  ready(signal?: DeadlineSignal): Promise<void> {
    return this.writes.whenReady(signal);
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
    const fixed = { endpoint: this.endpoint, tls: this.tls, db: this.db, connectTimeout: this.connectTimeout };
    return dedicatedTarget(this.redis, fixed, this.login.current(), (err) => this.unreachable(err));
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
      ...this.master.describe(),
      ...(this.redis instanceof Cluster && this.redis.status === "ready"
        ? { masters: this.redis.nodes("master").map((n) => `${n.options.host}:${n.options.port}`) }
        : {}),
      db: this.db,
      tls: this.tls !== undefined,
      status: this.redis.status,
      ...this.outages.describe(),
      ...(this.sentinel ? { sentinels: this.sentinel.describe() } : {}),
      // The RESP listener's clients' plain commands go over these, not over the ioredis connection above.
      ...(this.pipes ? { sharedConnections: { resp2: this.pipes[2].describe(), resp3: this.pipes[3].describe() } } : {}),
      ...this.login.describe(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    this.sentinel?.close();
    this.login.close();
    this.pipes?.[2].close();
    this.pipes?.[3].close();
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
}
