/**
 * A secret read from a file (`*File` keys), kept current: Kubernetes rotates projected tokens and
 * Secret volumes by swapping a `..data` symlink, so the folder is watched, with a periodic re-read as
 * a backstop (fs.watch can miss events on some volume types). The value is never logged.
 */
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { log } from "../observability/log.js";

/** Re-read at least this often even without a watch event. */
const RECHECK_MS = 30_000;

export class FileSecret {
  private current: string;
  private watcher: FSWatcher | undefined;
  private readonly timer: NodeJS.Timeout;
  private debounce: NodeJS.Timeout | undefined;
  /** When the value last changed (for /routes). */
  changedAt = new Date();

  constructor(readonly path: string) {
    this.current = readFileSync(path, "utf8").trim();
    try {
      this.watcher = watch(dirname(path), () => this.soon());
      this.watcher.on("error", () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      this.watcher = undefined;
    }
    this.timer = setInterval(() => this.reload(), RECHECK_MS).unref();
  }

  get value(): string {
    return this.current;
  }

  /** Re-read now (e.g. after a 401). Returns true when the value changed. A failed read keeps the old value. */
  reload(): boolean {
    try {
      const next = readFileSync(this.path, "utf8").trim();
      if (next === this.current || next === "") return false;
      this.current = next;
      this.changedAt = new Date();
      log.info({ file: this.path }, "secret file changed; new value in use");
      return true;
    } catch (err) {
      log.warn({ file: this.path, err: (err as Error).message }, "secret file unreadable; keeping the last value");
      return false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
  }

  private soon(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.reload(), 20);
    this.debounce.unref();
  }
}
