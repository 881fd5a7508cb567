/**
 * One try of one request against one endpoint, as an undici dispatch handler.
 *
 * `head` resolves when the response head arrives. Body bytes that arrive before the caller has decided
 * what to do with the response (retry it, or send it to the client) are held here, up to HIGH_WATER,
 * and the upstream is paused beyond that. `pipeTo` then streams the body into the client response,
 * pausing the upstream while the client is slow. A small response that is already complete goes out
 * with one `end()`: one write to the client.
 */
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import type { Slot } from "./balancer.js";

/** Above a typical response: pausing undici's parser and resuming it costs more than the copy (64 KiB bench: 0.85× → 1.4× the floor). */
const HIGH_WATER = 256 * 1024;

type Phase = "waiting" | "head" | "ended" | "failed";

export class UpstreamCall implements Dispatcher.DispatchHandler {
  statusCode = 0;
  headers: IncomingHttpHeaders = {};
  /** The error status is the upstream's verdict on this request (see resilience/classify.ts), set from `peek`. */
  verdict = false;
  readonly head: Promise<UpstreamCall>;
  private resolveHead!: (call: UpstreamCall) => void;
  private rejectHead!: (err: unknown) => void;
  private phase: Phase = "waiting";
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private sink: ServerResponse | undefined;
  private discarding = false;
  private error: Error | undefined;
  private onSettled: (() => void) | undefined;
  private peeking: { limit: number; resolve: (start: Buffer) => void; reject: (err: unknown) => void } | undefined;

  /** `slot.inflight` counts this call until its response is over (least-request balancing). */
  constructor(private readonly slot: Slot) {
    slot.inflight++;
    this.head = new Promise<UpstreamCall>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
  }

  /** Stop this call: before the head, `head` rejects at once (even while it waits for a connection). */
  abort(reason: Error): void {
    if (this.phase === "ended" || this.phase === "failed") return;
    if (this.controller) this.controller.abort(reason);
    else {
      this.abortReason = reason;
      this.fail(reason);
    }
  }

  /** Let go of a response that is not sent to the client (a retry): read the rest and drop it, keeping the connection. */
  discard(): void {
    this.discarding = true;
    this.held = [];
    this.controller?.resume();
  }

  /**
   * The first `limit` bytes of the body (all of it when shorter), once they are here; before `pipeTo`.
   * They stay held for the client. `limit` must stay below HIGH_WATER, where the upstream is paused.
   */
  peek(limit: number): Promise<Buffer> {
    if (this.phase === "failed") return Promise.reject(this.error);
    if (this.phase === "ended" || this.heldBytes >= limit) return Promise.resolve(this.start(limit));
    return new Promise((resolve, reject) => (this.peeking = { limit, resolve, reject }));
  }

  /** Send the held and remaining body to `res` (its head already written); `settled` runs once the body is over or failed. */
  pipeTo(res: ServerResponse, settled: () => void): void {
    this.onSettled = settled;
    const held = this.held;
    this.held = [];
    if (this.phase === "ended") {
      res.end(held.length === 1 ? held[0] : held.length ? Buffer.concat(held) : undefined);
      settled();
      return;
    }
    if (this.phase === "failed") {
      res.destroy(this.error);
      settled();
      return;
    }
    this.sink = res;
    for (const chunk of held) res.write(chunk);
    if (res.writableNeedDrain) res.once("drain", this.resume);
    else this.controller?.resume();
  }

  // ---- undici's DispatchHandler ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.statusCode = statusCode;
    this.headers = headers;
    this.phase = "head";
    this.resolveHead(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.sink) {
      if (!this.sink.write(chunk)) {
        controller.pause();
        this.sink.once("drain", this.resume);
      }
    } else if (!this.discarding) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes >= HIGH_WATER) controller.pause();
      if (this.peeking && this.heldBytes >= this.peeking.limit) this.settlePeek();
    }
  }

  onResponseEnd(): void {
    this.phase = "ended";
    this.slot.inflight--;
    if (this.peeking) this.settlePeek();
    if (this.sink) {
      this.sink.end();
      this.onSettled!();
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.fail(err);
  }

  private fail(err: Error): void {
    if (this.phase === "ended" || this.phase === "failed") return;
    const before = this.phase === "waiting";
    this.phase = "failed";
    this.error = err;
    this.slot.inflight--;
    this.peeking?.reject(err);
    this.peeking = undefined;
    if (before) this.rejectHead(err);
    else if (this.sink) {
      // Past the head there is no error left to send: cut the response, the client sees it truncated.
      this.sink.destroy(err);
      this.onSettled!();
    }
  }

  private settlePeek(): void {
    const { limit, resolve } = this.peeking!;
    this.peeking = undefined;
    resolve(this.start(limit));
  }

  private start(limit: number): Buffer {
    const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    return all.length > limit ? all.subarray(0, limit) : all;
  }

  private readonly resume = (): void => this.controller?.resume();
}
