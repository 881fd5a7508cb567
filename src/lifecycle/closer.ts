/** Closer: the ordered close hooks that shutdown runs once. */
import { log } from "../observability/log.js";

/** @default 5s: well inside terminationGracePeriodSeconds once drainTimeout has been spent. */
const HOOK_TIMEOUT_MS = 5_000;

/**
 * Closer: ordered close hooks (fastify's onClose). Whoever opens a socket, a timer or a watch registers
 * how to close it; shutdown runs the hooks once, in registration order, and one failing hook does not
 * keep the others from running. A hook that hangs (a server waiting for a client that never leaves)
 * is given up on after HOOK_TIMEOUT_MS: shutdown must end before the kubelet's SIGKILL does it.
 */
export class Closer {
  private readonly hooks: Array<{ name: string; close: () => Promise<void> | void }> = [];
  private closing: Promise<void> | undefined;

  add(name: string, close: () => Promise<void> | void): void {
    this.hooks.push({ name, close });
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Runs every hook once; later calls get the same promise. */
  close(): Promise<void> {
    this.closing ??= this.run();
    return this.closing;
  }

  private async run(): Promise<void> {
    for (const hook of this.hooks) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), HOOK_TIMEOUT_MS);
        timer.unref();
      });
      try {
        const result = await Promise.race([Promise.resolve().then(hook.close), timedOut]);
        if (result === "timeout") log.warn({ hook: hook.name, ms: HOOK_TIMEOUT_MS }, "close hook did not finish in time; going on");
      } catch (err) {
        log.warn({ hook: hook.name, err: (err as Error).message }, "close hook failed");
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
