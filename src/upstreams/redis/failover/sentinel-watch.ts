/**
 * Which master a Sentinel route's connection goes to, and when it must move (see README, Redis section).
 *
 * - Every (re)connect asks all sentinels at once, each bounded by `timeout` (one hung sentinel holds
 *   nobody up), and goes with the address a majority names, or the most named once the others have
 *   answered or run out of time.
 * - When no sentinel answers, the master known last is used: the ready check (INFO role) refuses it
 *   if it is not a master any more.
 * - One subscriber per sentinel listens for the events of a failover and moves the connection to
 *   the new master at once, rather than when Sentinel demotes the old one (writes the old master
 *   takes meanwhile are lost when it resyncs). The first, `+failover-state-wait-promotion`, comes
 *   as Sentinel tells the replica to become master: from then on the connection goes only there
 *   (for HINT_MS; the ready check refuses it until it is a master), so the old master gets no
 *   more writes. `+promoted-slave` and `+switch-master` follow.
 * In failover/: it decides where the connection goes when the topology changes; client/ only connects.
 */
import { createConnection } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { Redis, type AbstractConnector } from "ioredis";
import { CustomConnector } from "../client/ioredis-tap.js";
import { log } from "../../../observability/log.js";
import { backoffDelay, reconnectDelay, sleep } from "../../../resilience/backoff.js";
import { formatHostPort, parseHostPort } from "../../../net/address.js";

export interface Address {
  host: string;
  port: number;
}

export interface SentinelSetup {
  route: string;
  /** The master's name in Sentinel. */
  name: string;
  sentinels: Address[];
  /** Sentinel's AUTH (the route's credentials), read at each connect: secrets rotate. */
  credentials(): { username?: string; password?: string };
  tls: ConnectionOptions | undefined;
  /** Bound on one sentinel's answer, connect and command together. */
  timeout: number;
  /** The master moved (an event from a sentinel): reconnect now. */
  moved(to: Address, why: string): void;
}

/** Back-off between rounds when neither a sentinel nor a known master answers. */
const ROUND_BASE_MS = 100;
const ROUND_CAP_MS = 1_000;
const SWITCH_CHANNELS = ["+failover-state-wait-promotion", "+promoted-slave", "+switch-master"];
/** How long a master named by an event is the only place to connect to (a promotion takes well under this). */
const HINT_MS = 3_000;

interface SentinelState {
  address: Address;
  /** The last answer or error, for /routes. */
  last: string | undefined;
  at: Date | undefined;
}

export class SentinelWatch {
  /** The master connected to last, or named last by the sentinels. */
  known: Address | undefined;
  /** A master named by an event, to connect to next, before asking again (sentinels answer with the old one until +switch-master). */
  private hint: { address: Address; until: number } | undefined;
  /** Where the connector sent the socket last. */
  private target: Address | undefined;
  private readonly states: SentinelState[];
  private readonly subscribers: Redis[] = [];
  private closed = false;

  constructor(private readonly setup: SentinelSetup) {
    this.states = setup.sentinels.map((address) => ({ address, last: undefined, at: undefined }));
    for (const state of this.states) this.subscribe(state.address);
  }

  /** The ioredis Connector for this watch: ioredis makes one per Redis instance. */
  connector(): new (options: unknown) => AbstractConnector {
    const watch = this;
    return class SentinelMasterConnector extends CustomConnector {
      constructor() {
        super(1_000);
      }

      /** Only a master: after a failover the old one comes back as a replica. */
      override check(info: { role?: string }): boolean {
        return !info.role || info.role === "master";
      }

      async connect(emit: (type: string, err: Error) => void) {
        this.begin();
        for (let round = 1; ; round++) {
          const found = await watch.master();
          if (!this.wanted) throw new Error("Connection is closed.");
          if ("address" in found) {
            watch.target = found.address;
            const { host, port } = found.address;
            const options = { host, port };
            return this.made(watch.setup.tls ? tlsConnect({ ...watch.setup.tls, ...options }) : createConnection(options));
          }
          emit("error", found.error);
          await sleep(backoffDelay(round, ROUND_BASE_MS, ROUND_CAP_MS));
          if (!this.wanted) throw new Error("Connection is closed.");
        }
      }
    };
  }

  /** The connection reached a master (the ready check passed): the one to fall back on. */
  connected(): void {
    if (!this.target) return;
    this.known = this.target;
    if (this.hint && sameAddress(this.hint.address, this.target)) this.hint = undefined;
  }

  /** Where to connect now: an event's master, the sentinels' answer, or the master known last. */
  async master(): Promise<{ address: Address } | { error: Error }> {
    const hint = this.hint;
    if (hint && Date.now() < hint.until) return { address: hint.address };
    this.hint = undefined;
    const asked = await this.ask();
    if ("address" in asked) return asked;
    if (this.known) {
      log.warn(
        { route: this.setup.route, master: fmt(this.known), err: asked.error.message },
        "redis sentinels did not answer; trying the master known last",
      );
      return { address: this.known };
    }
    return asked;
  }

  describe(): Array<{ address: string; last?: string; at?: string }> {
    return this.states.map((s) => ({ address: fmt(s.address), ...(s.last ? { last: s.last, at: s.at!.toISOString() } : {}) }));
  }

  close(): void {
    this.closed = true;
    for (const s of this.subscribers) s.disconnect();
  }

  /** All sentinels at once; a majority decides early, else the most named address once all are in. */
  private ask(): Promise<{ address: Address } | { error: Error }> {
    const needed = Math.floor(this.states.length / 2) + 1;
    const votes = new Map<string, number>();
    const errors: string[] = [];
    let pending = this.states.length;
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        let best: string | undefined;
        for (const [address, n] of votes) if (!best || n > votes.get(best)!) best = address;
        if (!best && pending > 0) return;
        done = true;
        if (best) resolve({ address: parseHostPort(best, "sentinel reply") });
        else resolve({ error: new Error(`no sentinel named a master for "${this.setup.name}" (${errors.join("; ")})`) });
      };
      for (const state of this.states) {
        this.askOne(state.address).then(
          (address) => {
            state.last = `master ${address}`;
            state.at = new Date();
            const n = (votes.get(address) ?? 0) + 1;
            votes.set(address, n);
            pending--;
            if (n >= needed || pending === 0) finish();
          },
          (err: Error) => {
            state.last = err.message;
            state.at = new Date();
            errors.push(`${fmt(state.address)}: ${err.message}`);
            pending--;
            if (pending === 0) finish();
          },
        );
      }
    });
  }

  private async askOne(address: Address): Promise<string> {
    const client = new Redis({
      ...address,
      ...this.setup.credentials(),
      ...(this.setup.tls ? { tls: this.setup.tls } : {}),
      connectTimeout: this.setup.timeout,
      commandTimeout: this.setup.timeout,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
      lazyConnect: true,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      const reply = (await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", this.setup.name)) as [string, string] | null;
      if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`does not know master "${this.setup.name}"`);
      return `${reply[0]}:${reply[1]}`;
    } catch (err) {
      const message = (err as Error).message;
      throw new Error(/timed out/i.test(message) ? `no answer within ${this.setup.timeout}ms` : message);
    } finally {
      client.disconnect();
    }
  }

  /** A subscriber on one sentinel for the events that say the master moved; it reconnects with back-off for ever. */
  private subscribe(address: Address): void {
    const sub = new Redis({
      ...address,
      ...this.setup.credentials(),
      ...(this.setup.tls ? { tls: this.setup.tls } : {}),
      connectTimeout: this.setup.timeout,
      enableReadyCheck: false,
      maxRetriesPerRequest: null,
      retryStrategy: (times) => reconnectDelay(times, ROUND_BASE_MS, ROUND_CAP_MS),
    });
    sub.on("error", () => {});
    void sub.subscribe(...SWITCH_CHANNELS).catch(() => {});
    sub.on("message", (channel: string, message: string) => {
      if (this.closed) return;
      const moved = parseEvent(channel, message, this.setup.name);
      if (!moved) return;
      if (this.hint && sameAddress(this.hint.address, moved)) return;
      this.hint = { address: moved, until: Date.now() + HINT_MS };
      if (this.known && sameAddress(this.known, moved)) return;
      this.setup.moved(moved, `sentinel ${fmt(address)}: ${channel}`);
    });
    this.subscribers.push(sub);
  }
}

/**
 * The new master from `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>` or
 * `+promoted-slave slave <ip:port> <ip> <port> @ <name> <master-ip> <master-port>` (and
 * `+failover-state-wait-promotion`, the same), for our name.
 */
export function parseEvent(channel: string, message: string, name: string): Address | undefined {
  const w = message.split(" ");
  if (channel === "+switch-master" && w.length === 5 && w[0] === name) return { host: w[3]!, port: Number(w[4]) };
  if (channel !== "+switch-master" && w.length === 8 && w[4] === "@" && w[5] === name) return { host: w[2]!, port: Number(w[3]) };
  return undefined;
}

function fmt(a: Address): string {
  return formatHostPort(a.host, a.port);
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}
