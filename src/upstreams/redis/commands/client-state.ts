/** A client's transaction, WATCH and db state on its dedicated connection, read from Redis' replies. */
import type { RespValue } from "../resp/value.js";
import type { ReplyRewriter } from "./key-namespace.js";
import type { Prepared } from "./prepared.js";

/**
 * What a client's commands did to its connection's state, read from the replies (a refused MULTI
 * does not open a transaction). `sent` tracks MULTI as sent, to know which replies EXEC will carry.
 */
export class ClientState {
  inMulti = false;
  watching = false;
  db: number;
  /** MULTI sent and not yet EXEC/DISCARD-ed. */
  private multiSent = false;
  /** Rewriters of the commands queued in the transaction, for EXEC's reply. */
  private queued: Array<ReplyRewriter | undefined> = [];
  /** A command of the transaction was refused by attache: EXEC must abort, as Redis does after a queuing error. */
  dirty = false;

  constructor(readonly baseDb: number) {
    this.db = baseDb;
  }

  /** No transaction, no watch, the route's database: the client may go back to the shared connection. */
  get neutral(): boolean {
    return !this.inMulti && !this.watching && !this.multiSent && this.db === this.baseDb;
  }

  get inTransaction(): boolean {
    return this.multiSent;
  }

  /** Called as a command is sent; returns the rewriter for its reply (EXEC: one per queued command). */
  sending(command: Prepared): ReplyRewriter | undefined {
    const { name } = command;
    if (name === "MULTI") {
      if (!this.multiSent) {
        this.multiSent = true;
        this.queued = [];
        this.dirty = false;
      }
      return undefined;
    }
    if (name === "EXEC" || name === "DISCARD" || name === "RESET") {
      const queued = this.queued;
      this.multiSent = false;
      this.queued = [];
      if (name !== "EXEC" || !queued.some(Boolean)) return undefined;
      return (reply) =>
        reply.type === "array" && reply.value ? { type: "array", value: reply.value.map((v, i) => queued[i]?.(v) ?? v) } : reply;
    }
    if (this.multiSent && name !== "WATCH") {
      this.queued.push(command.rewrite);
      return undefined;
    }
    return command.rewrite;
  }

  /** A command of the open transaction was refused locally. */
  refusedInTransaction(): void {
    if (this.multiSent) this.dirty = true;
  }

  replied(command: Prepared, reply: RespValue): void {
    const ok = reply.type !== "error";
    switch (command.name) {
      case "MULTI":
        if (ok) this.inMulti = true;
        break;
      case "EXEC":
      case "DISCARD":
        this.inMulti = false;
        this.watching = false;
        break;
      case "WATCH":
        if (ok) this.watching = true;
        break;
      case "UNWATCH":
        if (ok) this.watching = false;
        break;
      case "SELECT":
        if (ok) this.db = Number(command.args[1]!.toString("latin1"));
        break;
      case "RESET":
        // Redis went back to db 0; the dedicated connection selects the route's db again (client/dedicated-connection.ts).
        this.inMulti = false;
        this.watching = false;
        this.db = this.baseDb;
        break;
    }
  }
}
