/**
 * Secret files (`*File` keys): read only when they are regular files of bounded size, and kept
 * current. Kubernetes rotates projected tokens and Secret volumes by swapping a `..data` symlink, so
 * the folder is watched (fs/watch-files.ts), with a periodic re-read as a backstop (fs.watch can miss
 * events on some volume types). The value is never logged.
 *
 * A FIFO, a device (/dev/zero) or a directory is refused from its stat, before anything is opened
 * for reading; the open itself is non-blocking and the read stops at the bound, so a path that
 * changes kind after validation cannot stall the event loop or fill the memory either.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { FileWatcher, foldersOf } from "../fs/watch-files.js";
import { log } from "../observability/log.js";

/** Largest `*File` attache reads: tokens, passwords, keys and certificates are far smaller. */
export const SECRET_FILE_MAX_BYTES = 64 * 1024;

/** Why `path` cannot be read as a secret file of at most `maxBytes`, or undefined when it can. Reads nothing. */
export function secretFileProblem(path: string, maxBytes = SECRET_FILE_MAX_BYTES): string | undefined {
  try {
    const fd = openChecked(path, maxBytes);
    closeSync(fd);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The whole file, or an Error naming the path and why not (not a regular file, too large, unreadable). */
export function readSecretFile(path: string, maxBytes = SECRET_FILE_MAX_BYTES): Buffer {
  try {
    const fd = openChecked(path, maxBytes);
    try {
      const buf = Buffer.alloc(maxBytes + 1);
      let n = 0;
      while (n < buf.length) {
        const got = readSync(fd, buf, n, buf.length - n, null);
        if (got === 0) break;
        n += got;
      }
      if (n > maxBytes) throw new Error(`is larger than ${formatBytes(maxBytes)}`);
      return buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new Error(`secret file ${path} ${(err as Error).message}`);
  }
}

function openChecked(path: string, maxBytes: number): number {
  const before = describeKind(statOf(path), maxBytes);
  if (before) throw new Error(before);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new Error(reason(err));
  }
  // The path may have been swapped between stat and open: the descriptor is what gets read.
  const after = describeKind(fstatSync(fd), maxBytes);
  if (after) {
    closeSync(fd);
    throw new Error(after);
  }
  return fd;
}

function statOf(path: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    throw new Error(reason(err));
  }
}

function describeKind(st: Stats, maxBytes: number): string | undefined {
  if (st.isFile())
    return st.size > maxBytes ? `is ${formatBytes(st.size)}; a secret file may hold at most ${formatBytes(maxBytes)}` : undefined;
  const kind = st.isDirectory()
    ? "a directory"
    : st.isFIFO()
      ? "a FIFO"
      : st.isCharacterDevice()
        ? "a character device"
        : st.isBlockDevice()
          ? "a block device"
          : st.isSocket()
            ? "a socket"
            : "not a file";
  return `is ${kind}, not a regular file`;
}

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT"
    ? "does not exist"
    : code === "EACCES" || code === "EPERM"
      ? "is not readable"
      : `cannot be read (${code ?? (err as Error).message})`;
}

function formatBytes(n: number): string {
  return n % 1024 === 0 && n >= 1024 ? (n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : `${n / 1024} KiB`) : `${n} bytes`;
}

/** Re-read at least this often even without a watch event. */
const RECHECK_MS = 30_000;

export class FileSecret {
  private current: string;
  private readonly watcher: FileWatcher;
  private readonly listeners: Array<() => void> = [];
  /** When the value last changed (for /routes). */
  changedAt = new Date();

  /** Throws when the file cannot be read as a secret (see readSecretFile). */
  constructor(readonly path: string) {
    this.current = readSecretFile(path).toString("utf8").trim();
    this.watcher = new FileWatcher(() => this.reload(), { debounceMs: 20, recheckMs: RECHECK_MS });
    this.watcher.watch(foldersOf([path]));
  }

  get value(): string {
    return this.current;
  }

  /** Call `listener` after every change of the value (a holder that must act at once, e.g. re-authenticate). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Re-read now (e.g. after a 401). Returns true when the value changed. A failed read keeps the old value. */
  reload(): boolean {
    let next: string;
    try {
      next = readSecretFile(this.path).toString("utf8").trim();
    } catch (err) {
      log.warn({ file: this.path, err: (err as Error).message }, "secret file unreadable; keeping the last value");
      return false;
    }
    if (next === this.current || next === "") return false;
    this.current = next;
    this.changedAt = new Date();
    log.info({ file: this.path }, "secret file changed; new value in use");
    for (const listener of this.listeners) listener();
    return true;
  }

  close(): void {
    this.watcher.close();
  }
}
