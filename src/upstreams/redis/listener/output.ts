/**
 * A RESP client's output: one reply slot per command, filled in any order and written strictly in
 * order; a turn's replies in one socket write; back-pressure (stop reading past MAX_OUTSTANDING
 * replies) and the output limits (limits.redis.output: a client that does not read is cut).
 */
import type { Socket } from "node:net";
import type { Span } from "../../../observability/otel.js";
import { tracer } from "../../../observability/tracing.js";
import type { RespLimits } from "./backend.js";

/** Replies outstanding per client before attache stops reading from it (back-pressure for huge pipelines). */
const MAX_OUTSTANDING = 10_000;
/** How long a client that was answered and ended may keep sending (into the void) before it is cut. */
export const CLOSE_GRACE_MS = 1_000;

/** One reply position in a client's output; filled in any order, written in order. */
export interface Slot {
  /** What arrived before the slot reached the head (usually one frame; several for a subscription). */
  parts: Buffer[] | undefined;
  done: boolean;
  /** The commands it answers (several for commands taken as sent, back to back). */
  readonly commands: number;
  /** When tracing is on: the span of its command(s), ended with the reply. */
  span: Span | undefined;
  /** attache's error code when some of its commands got no reply from Redis (for the span). */
  failure: string | undefined;
  /** When traced: the first reply bytes appended (a one-command slot's reply, for the span's error.type). */
  firstReply: Buffer | undefined;
}

const ERROR_REPLY = 0x2d; // "-"
const SPACE = 0x20;

/** What the output calls back into its session for. */
export interface OutputOwner {
  /** A client past a limit: counted and logged. */
  overLimit(reason: string, message: string): void;
  destroy(): void;
}

/** Outputs with data gathered in this event-loop turn; written once at its end. */
let outputDue: ReplyOutput[] = [];
function writeDueOutput(): void {
  const due = outputDue;
  outputDue = [];
  for (const output of due) output.writeOut();
}

export class ReplyOutput {
  private readonly slots: Slot[] = [];
  private head = 0;
  /** Commands whose replies are not written out yet (back-pressure counts these). */
  private unwritten = 0;
  /** Output of this turn, not written yet. */
  private out: Buffer[] = [];
  private outBytes = 0;
  /** Since when the unsent output has been above the soft limit; 0: it is not. */
  private softSince = 0;
  private paused = false;
  /** The connection is ended (closeWritten). */
  private closing = false;
  /** No more reading; end the socket once every reply is out (QUIT, protocol error, lost transaction). */
  ending = false;
  destroyed = false;

  constructor(
    private readonly socket: Socket,
    private readonly limits: RespLimits["output"],
    private readonly owner: OutputOwner,
  ) {
    socket.on("drain", () => {
      this.softSince = 0;
      this.maybeResume();
    });
  }

  /** The session is gone: nothing more is written. */
  discard(): void {
    this.destroyed = true;
    this.out = [];
  }

  slot(commands = 1): Slot {
    const slot: Slot = { parts: undefined, done: false, commands, span: undefined, failure: undefined, firstReply: undefined };
    this.slots.push(slot);
    this.unwritten += commands;
    return slot;
  }

  resolve(slot: Slot, data: Buffer): void {
    slot.done = true;
    if (slot.span) endSpan(slot, data);
    if (this.slots[this.head] === slot && !slot.parts) {
      // The usual case: the reply for the oldest outstanding command. Straight to the output.
      this.write(data);
      this.head++;
      this.unwritten -= slot.commands;
      this.flush();
      return;
    }
    slot.parts ??= [];
    slot.parts.push(data);
    this.flush();
  }

  append(slot: Slot, data: Buffer): void {
    if (slot.done || this.destroyed) return;
    if (slot.span) slot.firstReply ??= data;
    // The head slot has nothing held back (flush writes it out whenever the head moves): straight out.
    if (this.slots[this.head] === slot) {
      this.write(data);
    } else {
      slot.parts ??= [];
      slot.parts.push(data);
    }
  }

  finish(slot: Slot): void {
    slot.done = true;
    if (slot.span) endSpan(slot, slot.commands === 1 ? slot.firstReply : undefined);
    this.flush();
  }

  flush(): void {
    if (this.destroyed) return;
    while (this.head < this.slots.length) {
      const slot = this.slots[this.head]!;
      if (slot.parts) {
        for (const part of slot.parts) this.write(part);
        slot.parts = undefined;
      }
      if (!slot.done) break;
      this.head++;
      this.unwritten -= slot.commands;
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
    if (this.ending && this.head === this.slots.length) {
      this.writeOut();
      this.closeWritten();
      return;
    }
    this.maybeResume();
  }

  private write(data: Buffer): void {
    if (this.out.length === 0) {
      if (outputDue.length === 0) setImmediate(writeDueOutput);
      outputDue.push(this);
    }
    this.out.push(data);
    this.outBytes += data.length;
  }

  /** This turn's output in one write; a client that does not read what it is sent is cut at the output limits. */
  writeOut(): void {
    const out = this.out;
    if (out.length === 0 || this.destroyed) return;
    const data = out.length === 1 ? out[0]! : Buffer.concat(out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    if (this.socket.write(data)) {
      this.softSince = 0;
      return;
    }
    this.pause();
    const unsent = this.socket.writableLength;
    const { hard, soft, softFor } = this.limits;
    if (unsent <= soft) {
      this.softSince = 0;
      return;
    }
    const now = Date.now();
    if (this.softSince === 0) this.softSince = now;
    if (unsent > hard) this.cutOff(`${unsent} unsent reply bytes, more than limits.redis.output.hard (${hard})`);
    else if (now - this.softSince >= softFor)
      this.cutOff(`more than limits.redis.output.soft (${soft}) unsent reply bytes for limits.redis.output.softFor (${softFor} ms)`);
  }

  /** Stop reading from a client with more than MAX_OUTSTANDING replies not written yet. */
  pauseIfBacklogged(): void {
    if (this.unwritten > MAX_OUTSTANDING) this.pause();
  }

  /** A client past an output limit: closed at once (its unsent replies are dropped), as Redis does. */
  private cutOff(message: string): void {
    this.owner.overLimit("output_buffer", message);
    this.owner.destroy();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.socket.writableNeedDrain || this.unwritten > MAX_OUTSTANDING / 2) return;
    this.paused = false;
    this.socket.resume();
  }

  /**
   * Everything is written: end the connection. What the client still sends is read and dropped (a
   * client blocked writing a refused command would otherwise never see the end), for CLOSE_GRACE_MS
   * at most; then the connection is destroyed whatever the client does.
   */
  private closeWritten(): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.end();
    this.socket.resume();
    setTimeout(() => this.owner.destroy(), CLOSE_GRACE_MS).unref();
  }
}

/** A Redis error reply's prefix (WRONGTYPE, ERR, …) is the span's error.type, as the database conventions have it. */
function endSpan(slot: Slot, reply: Buffer | undefined): void {
  if (slot.failure) {
    tracer?.end(slot.span!, { error: slot.failure });
    return;
  }
  const end = reply?.[0] === ERROR_REPLY ? reply.indexOf(SPACE) : -1;
  tracer?.end(slot.span!, end > 1 ? { errorType: reply!.toString("latin1", 1, end) } : {});
}
