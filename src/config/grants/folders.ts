/** Whether a file lies inside a granted folder, through symlinks (a Secret volume is a tree of links). */
import { realpathSync } from "node:fs";

export function isInside(file: string, dir: string): boolean {
  const base = dir.endsWith("/") ? dir : `${dir}/`;
  return file.startsWith(base);
}

export function realOrSame(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
