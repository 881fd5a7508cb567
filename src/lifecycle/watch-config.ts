/**
 * Watches the folders that hold the config (DESIGN §5) and calls back, debounced, when anything in
 * them changes.
 *
 * Folders, not files: the kubelet updates a ConfigMap volume by writing a new `..<timestamp>` folder
 * and renaming a `..data_tmp` symlink over `..data`; the file names the app sees are symlinks through
 * `..data`. A watch on such a file follows the symlink to the old timestamp folder, which is deleted
 * right after the swap, so it goes silent. The folder holding the links sees the rename of `..data`,
 * and a plain editor save is seen there too. Folders that are themselves symlinks (an item path
 * `routes.d/x.yaml` makes `routes.d -> ..data/routes.d`) are re-resolved on every `watch()` call and
 * re-watched when their target moved. A periodic recheck backs up fs.watch where it misses events
 * (network and some FUSE volumes); a recheck whose files are unchanged costs a few reads.
 */
import { realpathSync, watch, type FSWatcher } from "node:fs";
import { log } from "../observability/log.js";

export interface WatchOptions {
  /** Quiet time after the last event before calling back: the kubelet's swap is a burst of events. */
  debounceMs?: number;
  /** Call back at the latest this long after the first event of a burst that never goes quiet. */
  maxDelayMs?: number;
  /** Call back this often even without events (0: never). */
  recheckMs?: number;
}

/** @default 150ms quiet, at most 1s after the first event, recheck every 10s. */
const DEFAULTS = { debounceMs: 150, maxDelayMs: 1_000, recheckMs: 10_000 };

export class ConfigWatcher {
  private readonly watchers = new Map<string, { real: string; watcher: FSWatcher }>();
  private readonly options: Required<WatchOptions>;
  private timer: NodeJS.Timeout | undefined;
  private firstEventAt = 0;
  private readonly recheck: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly onChange: (why: "change" | "recheck") => void,
    options: WatchOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    if (this.options.recheckMs > 0) {
      this.recheck = setInterval(() => this.onChange("recheck"), this.options.recheckMs);
      this.recheck.unref();
    }
  }

  /** Watch exactly these folders from now on (called after every load: includes may have changed). */
  watch(dirs: Iterable<string>): void {
    if (this.closed) return;
    const wanted = new Map<string, string | undefined>();
    for (const dir of dirs) wanted.set(dir, realpathOrUndefined(dir));
    for (const [dir, entry] of this.watchers) {
      if (wanted.get(dir) !== entry.real) {
        entry.watcher.close();
        this.watchers.delete(dir);
      }
    }
    for (const [dir, real] of wanted) {
      if (real === undefined || this.watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, () => this.event());
        watcher.on("error", () => {
          // The folder went away (an old `..<timestamp>` target): forget it; the next load re-watches.
          watcher.close();
          if (this.watchers.get(dir)?.watcher === watcher) this.watchers.delete(dir);
          this.event();
        });
        this.watchers.set(dir, { real, watcher });
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, "cannot watch config folder; relying on the periodic recheck and SIGHUP");
      }
    }
  }

  /** Folders watched now (for tests and logs). */
  get folders(): string[] {
    return [...this.watchers.keys()];
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.recheck) clearInterval(this.recheck);
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private event(): void {
    if (this.closed) return;
    const now = Date.now();
    if (!this.timer) this.firstEventAt = now;
    else clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(this.options.debounceMs, this.firstEventAt + this.options.maxDelayMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onChange("change");
    }, delay);
    this.timer.unref();
  }
}

function realpathOrUndefined(dir: string): string | undefined {
  try {
    return realpathSync(dir);
  } catch {
    return undefined;
  }
}
