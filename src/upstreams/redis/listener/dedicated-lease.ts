/**
 * A RESP client's own upstream connection (for MULTI/WATCH, subscriptions, blocking commands; a RESP3 client on a cluster):
 * at most one per client, opened on demand, kept while the client is in a stateful mode, and given
 * back LINGER_MS after the client is neutral and idle again (a BLPOP loop reuses it).
 */
import type { DedicatedConnection } from "../client/dedicated-connection.js";
import type { RedisClient } from "../client/redis-client.js";
import type { Prepared } from "../commands/prepared.js";
import type { Frame } from "../resp/value.js";
import type { Slot } from "./output.js";

/** A client back in a neutral state keeps its dedicated connection this long. */
const LINGER_MS = 2_000;

export interface LeaseEvents {
  /** The session is gone: a connection that opens now is closed at once. */
  gone(): boolean;
  opened(): void;
  /** The open connection closed under the client (not released by it). */
  lost(): void;
  /** It could not be opened. */
  failed(err: unknown): void;
  /** Pub/sub messages outside any command's reply. */
  push(frame: Frame): void;
}

export class DedicatedLease {
  conn: DedicatedConnection | undefined;
  opening = false;
  /** RESP3 plain commands of this turn, not sent yet (dedicated-sends.ts). */
  plain: { conn: DedicatedConnection; commands: Prepared[]; slots: Slot[] } | undefined;
  private linger: NodeJS.Timeout | undefined;
  private readonly onPush: (frame: Frame) => void;

  constructor(
    private readonly client: RedisClient,
    private readonly events: LeaseEvents,
  ) {
    this.onPush = (frame) => events.push(frame);
  }

  /** A connection is open or opening. */
  get held(): boolean {
    return this.conn !== undefined || this.opening;
  }

  open(protocol: 2 | 3): void {
    this.opening = true;
    this.client.openDedicated(protocol).then(
      (conn) => {
        this.opening = false;
        if (this.events.gone()) {
          conn.close();
          return;
        }
        this.conn = conn;
        conn.on("push", this.onPush);
        conn.once("close", () => {
          if (this.conn !== conn) return;
          this.conn = undefined;
          this.events.lost();
        });
        this.events.opened();
      },
      (err: unknown) => {
        this.opening = false;
        this.events.failed(err);
      },
    );
  }

  /** A command goes on the connection: it is in use, not lingering. */
  inUse(): void {
    if (this.linger) clearTimeout(this.linger);
    this.linger = undefined;
  }

  /** Release the connection after LINGER_MS, if `idle()` still holds then. */
  releaseWhenIdle(conn: DedicatedConnection, idle: () => boolean): void {
    if (this.linger) clearTimeout(this.linger);
    this.linger = setTimeout(() => {
      this.linger = undefined;
      if (this.conn === conn && idle()) this.release();
    }, LINGER_MS);
    this.linger.unref();
  }

  stopLinger(): void {
    if (this.linger) clearTimeout(this.linger);
  }

  release(): void {
    const conn = this.conn;
    // Cleared first: the connection's close handler above then sees it is not this client's any more.
    this.conn = undefined;
    if (conn) {
      conn.off("push", this.onPush);
      conn.close();
    }
  }
}
