/** The one file watcher: config folders, secret files and Kubernetes credentials are kept current through it. */
import { lstatSync, realpathSync, statSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { log } from "../observability/log.js";

export interface WatchOptions {
  /** Quiet time after the last event before calling back: the kubelet's swap is a burst of events. */
  debounceMs?: number;
  /** Call back at the latest this long after the first event of a burst that never goes quiet. */
  maxDelayMs?: number;
  /** Call back this often even without events (0: never). */
  recheckMs?: number;
}

export type WatchReason = "change" | "recheck";

/** @default 150ms quiet, at most 1s after the first event, recheck every 10s. */
const WATCH_DEFAULTS: Required<WatchOptions> = { debounceMs: 150, maxDelayMs: 1_000, recheckMs: 10_000 };

/**
 * Calls back, debounced, when anything in the watched folders changes, and periodically.
 *
 * Folders, not files: the kubelet updates a ConfigMap or Secret volume by writing a new `..<timestamp>`
 * folder and renaming a `..data_tmp` symlink over `..data`; the file names the app sees are symlinks
 * through `..data`. A watch on such a file follows the symlink to the old timestamp folder, which is
 * deleted right after the swap, so it goes silent. The folder holding the links sees the rename of
 * `..data`, and a plain editor save is seen there too. A folder that is itself a symlink (an item path
 * `sub/token` makes `sub -> ..data/sub`) is watched through its target and in the folder that holds
 * the link (where the swap happens); after every event its target is resolved again and re-watched
 * when it moved. The periodic recheck backs up fs.watch where it misses events (network and some FUSE
 * volumes) and covers folders that do not exist yet; the caller re-reads or re-stats (statSignature)
 * what it needs, so a recheck with nothing changed costs a few system calls.
 */
export class FileWatcher {
  private readonly watchers = new Map<string, { real: string; watcher: FSWatcher }>();
  private wanted: readonly string[] = [];
  private readonly options: Required<WatchOptions>;
  private timer: NodeJS.Timeout | undefined;
  private firstEventAt = 0;
  private readonly recheck: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly onChange: (why: WatchReason) => void,
    options: WatchOptions = {},
  ) {
    this.options = { ...WATCH_DEFAULTS, ...options };
    if (this.options.recheckMs > 0) {
      this.recheck = setInterval(() => {
        this.refresh();
        this.onChange("recheck");
      }, this.options.recheckMs);
      this.recheck.unref();
    }
  }

  /** Watch exactly these folders from now on (call again whenever the set changes). */
  watch(dirs: Iterable<string>): void {
    if (this.closed) return;
    this.wanted = [...new Set(dirs)];
    this.refresh();
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

  /** Resolve every wanted folder again; watch the ones that appeared or moved, drop the rest. */
  private refresh(): void {
    if (this.closed) return;
    const resolved = new Map<string, string | undefined>();
    for (const dir of this.wanted) {
      resolved.set(dir, realpathOrUndefined(dir));
      // The swap of a symlinked folder happens in the folder holding the link.
      if (isSymlink(dir)) resolved.set(dirname(dir), realpathOrUndefined(dirname(dir)));
    }
    for (const [dir, entry] of this.watchers) {
      if (resolved.get(dir) !== entry.real) {
        entry.watcher.close();
        this.watchers.delete(dir);
      }
    }
    for (const [dir, real] of resolved) {
      if (real === undefined || this.watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, () => this.event());
        watcher.on("error", () => {
          // The folder went away (an old `..<timestamp>` target): forget it; the next refresh re-watches.
          watcher.close();
          if (this.watchers.get(dir)?.watcher === watcher) this.watchers.delete(dir);
          this.event();
        });
        this.watchers.set(dir, { real, watcher });
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, "cannot watch folder; relying on the periodic recheck");
      }
    }
  }

  private event(): void {
    if (this.closed) return;
    const now = Date.now();
    if (!this.timer) this.firstEventAt = now;
    else clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(this.options.debounceMs, this.firstEventAt + this.options.maxDelayMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh();
      this.onChange("change");
    }, delay);
    this.timer.unref();
  }
}

/** The folders to watch for these files: the folder holding each (its swap shows there). */
export function foldersOf(files: Iterable<string>): Set<string> {
  const dirs = new Set<string>();
  for (const file of files) dirs.add(dirname(file));
  return dirs;
}

/**
 * What the files are now, through their symlinks (inode, size, mtime; "-" for one that is missing):
 * a `..data` swap changes the inode, a rewrite the size or mtime. Equal signatures: nothing to re-read.
 */
export function statSignature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return "-";
      }
    })
    .join("|");
}

function realpathOrUndefined(dir: string): string | undefined {
  try {
    return realpathSync(dir);
  } catch {
    return undefined;
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
