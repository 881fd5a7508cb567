import { describe, expect, it } from "vitest";
import { Deadline, DeadlineExceeded } from "../../../src/resilience/deadline.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Deadline", () => {
  it("aborts once when the time is up, with DeadlineExceeded (EDEADLINE), calling each listener once", async () => {
    const d = new Deadline(20);
    let calls = 0;
    const listener = () => calls++;
    d.addEventListener("abort", listener);
    expect(d.aborted).toBe(false);
    await tick(60);
    expect(d.aborted).toBe(true);
    expect(d.reason).toBeInstanceOf(DeadlineExceeded);
    expect((d.reason as DeadlineExceeded).code).toBe("EDEADLINE");
    expect(calls).toBe(1);
    d.addEventListener("abort", listener); // as AbortSignal: too late, never called
    expect(calls).toBe(1);
  });

  it("clear() stops the clock; a removed listener is not called", async () => {
    const cleared = new Deadline(20);
    cleared.clear();
    const d = new Deadline(20);
    let calls = 0;
    const listener = () => calls++;
    d.addEventListener("abort", listener);
    d.removeEventListener("abort", listener);
    await tick(60);
    expect(cleared.aborted).toBe(false);
    expect(d.aborted).toBe(true);
    expect(calls).toBe(0);
  });

  it("a child (per-try) deadline ends with its parent, and on its own time", async () => {
    const parent = new Deadline(30);
    const child = new Deadline(10_000, parent);
    const early = new Deadline(10, new Deadline(10_000));
    await tick(80);
    expect(child.aborted).toBe(true);
    expect(child.reason).toBe(parent.reason);
    expect(early.aborted).toBe(true);
  });
});
