/** A RESP client's commands waiting, in order, for their connection: a switch between the shared and the dedicated one waits until the other is quiet. */
import { OWN_PUSHES, STATEFUL, TRANSACTION } from "../command-sets.js";
import type { ClientState } from "../commands/client-state.js";
import type { Prepared } from "../commands/prepared.js";
import type { DedicatedLease } from "./dedicated-lease.js";
import type { DedicatedSends } from "./dedicated-sends.js";
import { RESET } from "./local-commands.js";
import type { ReplyOutput, Slot } from "./output.js";

/** `protocol`: the client's protocol when it sent the command (HELLO changes it for later commands only). */
export type Task = { refused: true } | { refused: false; command: Prepared; slot: Slot; protocol: 2 | 3 };

/** What of its session the queue uses (session.ts owns them all). */
export interface QueueSession {
  readonly output: ReplyOutput;
  readonly lease: DedicatedLease;
  readonly state: ClientState;
  readonly dedicated: DedicatedSends;
  /** RESP3 commands may take the route's shared RESP3 connection (CommandRunner.sharesResp3). */
  readonly sharesResp3: boolean;
  /** Commands of this client are in flight on the shared connection of the other protocol. */
  sharedBusy(protocol: 2 | 3): boolean;
  /** The shared connections' commands of this client in flight. */
  sharedInflight(): number;
  sendShared(command: Prepared, slot: Slot, protocol: 2 | 3): void;
}

export class TaskQueue {
  private readonly tasks: Task[] = [];

  constructor(private readonly session: QueueSession) {}

  get length(): number {
    return this.tasks.length;
  }

  push(task: Task): void {
    this.tasks.push(task);
  }

  /** Every command not sent yet gets `reply` instead. */
  failAll(reply: Buffer): void {
    for (const task of this.tasks.splice(0)) if (!task.refused) this.session.output.resolve(task.slot, reply);
  }

  /** Send queued commands in order, holding back a switch of connection until the other one is quiet. */
  pump(): void {
    const { lease, output, state, dedicated } = this.session;
    while (this.tasks.length > 0 && !output.destroyed) {
      const task = this.tasks[0]!;
      if (task.refused) {
        this.tasks.shift();
        if (lease.conn && state.inTransaction) state.refusedInTransaction();
        continue;
      }
      const { command } = task;
      const conn = lease.conn;
      if (command.name === "RESET" && !conn && !lease.opening) {
        // Nothing to reset upstream, and the shared connection must never see RESET (it would leave the route's db).
        this.tasks.shift();
        output.resolve(task.slot, RESET);
        continue;
      }
      if (conn && conn.protocol !== task.protocol) {
        // The client changed protocol (HELLO, RESET): once the connection is quiet it goes, and the
        // next command gets a connection in its own protocol.
        dedicated.sendPlain();
        if (conn.inflight > 0) return;
        lease.release();
        continue;
      }
      const wantDedicated =
        (task.protocol === 3 && (!this.session.sharesResp3 || OWN_PUSHES.has(command.name))) ||
        conn !== undefined ||
        lease.opening ||
        STATEFUL.has(command.name) ||
        command.blocking !== undefined;
      if (!wantDedicated) {
        // After HELLO: the other protocol's shared connection answers this client's commands first.
        if (this.session.sharedBusy(task.protocol)) return;
        this.tasks.shift();
        this.session.sendShared(command, task.slot, task.protocol);
        continue;
      }
      if (this.session.sharedInflight() > 0) return;
      if (!conn) {
        // At most one per client: commands that arrive while it opens wait for it here.
        if (!lease.opening) lease.open(task.protocol);
        return;
      }
      this.tasks.shift();
      if (
        conn.protocol === 3 &&
        state.neutral &&
        !conn.subscribed &&
        command.blocking === undefined &&
        !TRANSACTION.has(command.name) &&
        !STATEFUL.has(command.name)
      ) {
        // A RESP3 client's plain commands while it holds its own connection (lingering, or a cluster): gathered for the turn, one exchange.
        dedicated.gather(conn, command, task.slot);
        continue;
      }
      dedicated.sendPlain();
      dedicated.send(conn, command, task.slot);
    }
  }
}
