/**
 * Closer: ordered close hooks (fastify's onClose). Whoever opens a socket, a timer or a watch registers
 * how to close it; shutdown runs the hooks once, in registration order, and one failing hook does not
 * keep the others from running.
 */
import { log } from "../observability/log.js";

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
    return (this.closing ??= this.run());
  }

  private async run(): Promise<void> {
    for (const hook of this.hooks) {
      try {
        await hook.close();
      } catch (err) {
        log.warn({ hook: hook.name, err: (err as Error).message }, "close hook failed");
      }
    }
  }
}
