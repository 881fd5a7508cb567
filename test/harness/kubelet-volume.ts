/**
 * A folder laid out and updated the way the kubelet updates a ConfigMap volume (its AtomicWriter):
 * the payload goes into a new `..<timestamp>` folder, a `..data_tmp` symlink to it is renamed over
 * `..data` (the one atomic step), the visible names are symlinks through `..data`, and the old
 * timestamp folder is removed last.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export class KubeletVolume {
  private current: string | undefined;
  private serial = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Publish the whole payload (path inside the volume → text), replacing the previous one. */
  write(payload: Record<string, string>): void {
    const stamp = new Date().toISOString().replace(/[-:T]/g, "_").replace(/\..*$/, "");
    const version = `..${stamp}.${process.pid}${String(++this.serial).padStart(4, "0")}`;
    for (const [path, text] of Object.entries(payload)) {
      const full = join(this.dir, version, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, text);
    }
    const tmp = join(this.dir, "..data_tmp");
    symlinkSync(version, tmp);
    renameSync(tmp, join(this.dir, "..data"));
    // Visible names: the first segment of each payload path, a symlink through ..data.
    const visible = new Set(Object.keys(payload).map((p) => p.split("/")[0]!));
    for (const name of visible) {
      const link = join(this.dir, name);
      if (!existsSync(link) && !isLink(link)) symlinkSync(join("..data", name), link);
    }
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith("..") && !visible.has(name)) unlinkSync(join(this.dir, name));
    }
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true, force: true });
    this.current = version;
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
