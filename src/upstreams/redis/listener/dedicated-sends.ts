/** A RESP client's commands on its dedicated connection: one exchange each, or a RESP3 client's plain commands gathered per turn. */
import type { DedicatedConnection } from "../client/dedicated-connection.js";
import type { ClientState } from "../commands/client-state.js";
import type { Prepared } from "../commands/prepared.js";
import { encodeValue, errorReply } from "../resp/encoder.js";
import type { Frame } from "../resp/value.js";
import type { RespBackend } from "./backend.js";
import type { DedicatedLease } from "./dedicated-lease.js";
import type { ReplyOutput, Slot } from "./output.js";

/** What of its session the dedicated sends use (session.ts owns them all). */
export interface DedicatedSession {
  readonly backend: RespBackend;
  readonly output: ReplyOutput;
  readonly lease: DedicatedLease;
  readonly state: ClientState;
  /** Commands still queued in the session. */
  waiting(): number;
  /** Send queued commands (TaskQueue.pump, task-queue.ts). */
  pump(): void;
  failure(err: unknown): Buffer;
  /** The dedicated connection's state is lost: close the client once `reply` and earlier replies are out. */
  endAfterReplies(reply: Buffer): void;
}

export class DedicatedSends {
  constructor(private readonly session: DedicatedSession) {}

  /** A RESP3 client's plain command: gathered for the turn and sent as one exchange (sendPlain). */
  gather(conn: DedicatedConnection, command: Prepared, slot: Slot): void {
    const lease = this.session.lease;
    lease.inUse();
    lease.plain ??= { conn, commands: [], slots: [] };
    lease.plain.commands.push(command);
    lease.plain.slots.push(slot);
    if (lease.plain.commands.length === 1) setImmediate(() => this.sendPlain());
  }

  /** The RESP3 plain commands gathered, in one exchange on the client's connection. */
  sendPlain(): void {
    const { lease, output, backend } = this.session;
    const plain = lease.plain;
    if (!plain) return;
    lease.plain = undefined;
    if (output.destroyed) return;
    const { conn, commands, slots } = plain;
    backend.runner.dedicatedMany(
      backend.resilience(),
      conn,
      commands,
      (i, frame, push) =>
        output.append(slots[i]!, push || !commands[i]!.rewrite ? frame.raw : encodeValue(commands[i]!.rewrite!(frame.value))),
      (i, err) => {
        if (err !== undefined) {
          const reply = this.session.failure(err);
          output.append(slots[i]!, reply);
          output.finish(slots[i]!);
          this.session.endAfterReplies(reply);
          return;
        }
        output.finish(slots[i]!);
        if (this.session.waiting() > 0 && conn.inflight === 0) this.session.pump();
        this.maybeRelease();
      },
    );
  }

  /** One command on the client's connection, its transaction state followed from the replies. */
  send(conn: DedicatedConnection, original: Prepared, slot: Slot): void {
    const { lease, output, backend, state } = this.session;
    lease.inUse();
    let command = original;
    let substitute: Buffer | undefined;
    if (command.name === "EXEC" && state.dirty) {
      // A command of this transaction was refused by attache: end it and answer as Redis does after a queuing error.
      command = { name: "DISCARD", args: [Buffer.from("DISCARD")], rewrite: undefined, blocking: undefined };
      substitute = errorReply("EXECABORT Transaction discarded because of previous errors.");
    }
    const rewrite = state.sending(command);
    const onFrame = (frame: Frame, push: boolean) => {
      if (substitute) return;
      output.append(slot, push || !rewrite ? frame.raw : encodeValue(rewrite(frame.value)));
    };
    backend.runner.dedicated(backend.resilience(), conn, command, onFrame).then(
      (frames) => {
        state.replied(command, frames[frames.length - 1]!.value);
        if (command.name === "RESET") conn.protocol = 2;
        if (substitute) output.append(slot, substitute);
        output.finish(slot);
        // Commands held back for a change of protocol go once the connection is quiet.
        if (this.session.waiting() > 0 && conn.inflight === 0) this.session.pump();
        this.maybeRelease();
      },
      (err: unknown) => {
        // The dedicated connection's state (transaction, subscriptions) is lost: the client must know.
        const reply = this.session.failure(err);
        output.append(slot, reply);
        output.finish(slot);
        this.session.endAfterReplies(reply);
      },
    );
  }

  private maybeRelease(): void {
    const { lease, state } = this.session;
    const conn = lease.conn;
    // On a cluster a RESP3 client keeps its connection: there it is the only one that speaks its protocol.
    if (!conn || conn.inflight > 0 || this.session.waiting() > 0 || !state.neutral || conn.subscribed) return;
    if (conn.protocol === 3 && !this.session.backend.runner.sharesResp3) return;
    lease.releaseWhenIdle(conn, () => conn.inflight === 0 && this.session.waiting() === 0 && state.neutral && !conn.subscribed);
  }
}
