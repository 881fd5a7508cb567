/**
 * A health check for a route's one connection to Redis (standalone or Sentinel): a Redis that stops
 * answering without closing the socket (a frozen process, a partition) must not keep the route on it.
 *
 * - Every PROBE_EVERY_MS a probe (PING; ROLE for Sentinel, which also catches a master demoted to a
 *   replica) goes over the connection; one not answered within `deadline` resets the socket.
 * - A socket stuck between connect and ready (the ready check unanswered) longer than `connectTimeout`
 *   is reset too: ioredis' connectTimeout ends at the TCP connect.
 * - A client that ended (ioredis gave up) is connected again: a route never stays dead.
 * A reset fails the commands in flight at once; ioredis reconnects (Sentinel: asks again).
 * In client/: it keeps the route's one connection healthy, whatever the topology (not a failover).
 */
import type { Redis } from "ioredis";
import { backoffDelay } from "../../../resilience/backoff.js";
import { resetSocket } from "./ioredis-tap.js";

const PROBE_EVERY_MS = 1_000;

export interface WatchSetup {
  /** "ROLE": the connection must be to a master (Sentinel). */
  probe: "PING" | "ROLE";
  /** How long a probe may go unanswered. */
  deadline: number;
  connectTimeout: number;
  /** Back-off base and cap for connecting a client that ended. */
  backoff: { base: number; cap: number };
  /** The connection was reset, and why (for the log and the next error). */
  reset(why: string): void;
  /** Still wanted (false once the route closed). */
  live(): boolean;
}

export class ConnectionWatch {
  private readonly timer: NodeJS.Timeout;
  /** When the outstanding probe was sent (0: none). */
  private probeSent = 0;
  /** When the socket reached "connect" (0: not in that state). */
  private connectSince = 0;
  private ends = 0;

  constructor(
    private readonly redis: Redis,
    private readonly setup: WatchSetup,
  ) {
    redis.on("connect", () => (this.connectSince = Date.now()));
    redis.on("ready", () => {
      this.connectSince = 0;
      this.ends = 0;
    });
    redis.on("close", () => {
      this.connectSince = 0;
      this.probeSent = 0;
    });
    redis.on("end", () => this.ended());
    this.timer = setInterval(() => this.tick(), PROBE_EVERY_MS).unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const redis = this.redis;
    const now = Date.now();
    if (redis.status === "connect" && this.connectSince && now - this.connectSince > this.setup.connectTimeout) {
      this.resetSocket(`no ready answer within ${this.setup.connectTimeout}ms of connecting`);
      return;
    }
    if (redis.status !== "ready") return;
    if (this.probeSent) {
      if (now - this.probeSent > this.setup.deadline) this.resetSocket(`no answer to ${this.setup.probe} within ${this.setup.deadline}ms`);
      return;
    }
    const sent = now;
    this.probeSent = sent;
    redis.call(this.setup.probe).then(
      (reply) => {
        if (this.probeSent !== sent) return;
        this.probeSent = 0;
        const role = Array.isArray(reply) ? String(reply[0]) : "master";
        if (this.setup.probe === "ROLE" && role !== "master") this.resetSocket(`the server is a ${role} now, not the master`);
      },
      () => {
        // The connection failed under it (ioredis reconnects) or Redis refused it (a LOADING server): not a hang.
        if (this.probeSent === sent) this.probeSent = 0;
      },
    );
  }

  /** Cut the socket: close → ioredis fails what is in flight and reconnects. */
  private resetSocket(why: string): void {
    this.probeSent = 0;
    this.connectSince = 0;
    this.setup.reset(why);
    if (!resetSocket(this.redis)) this.redis.disconnect(true);
  }

  private ended(): void {
    if (!this.setup.live()) return;
    const delay = backoffDelay(++this.ends, this.setup.backoff.base, this.setup.backoff.cap);
    setTimeout(() => {
      if (this.setup.live() && this.redis.status === "end") this.redis.connect().catch(() => {});
    }, delay).unref();
  }
}
