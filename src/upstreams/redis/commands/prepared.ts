/** A command as attache sends it (allowed, namespaced), where its replies go, and a reply as the app gets it. */
import type { ReplyRewriter } from "./key-namespace.js";
import type { Frame, RespValue } from "../resp/value.js";

export interface Prepared {
  /** Upper-case command name. */
  readonly name: string;
  /** What goes to Redis: args[0] the name, keys prefixed. */
  readonly args: Buffer[];
  readonly rewrite: ReplyRewriter | undefined;
  /** How long the command may block in Redis (ms; Infinity: until something arrives); undefined: not blocking. */
  readonly blocking: number | undefined;
  /** The command's bytes as the client sent them, when attache changed none of them (no key was prefixed). */
  readonly wire?: Buffer | undefined;
}

/** Where shared commands' replies go (a RESP session, or a promise for the HTTP API); `token` is the caller's. */
export interface ReplySink<T> {
  /** Reply bytes for `token`'s commands: whole frames, in order; more may follow until `settled`. */
  replyBytes(token: T, bytes: Buffer): void;
  /** Every command of `token` is answered, except the last `unanswered`, which failed with `err`. */
  settled(token: T, err: unknown, unanswered: number): void;
}

/** A reply for the app: `raw` is the exact frame from Redis when nothing in it was changed. */
export interface Reply {
  value: RespValue;
  raw?: Buffer | undefined;
}

export type Preparation = { ok: true; command: Prepared } | { ok: false; reason: string };

/** A frame after the reply rewriter: the raw bytes survive when nothing changed. */
export function single(frame: Frame, rewrite: ReplyRewriter | undefined): Reply {
  if (rewrite) return { value: rewrite(frame.value) };
  return frame.raw.length ? frame : { value: frame.value };
}

export function isErrorReply(result: unknown): boolean {
  if (Array.isArray(result)) return result.length === 1 && (result[0] as Frame).value.type === "error";
  return (result as Reply | undefined)?.value?.type === "error";
}
