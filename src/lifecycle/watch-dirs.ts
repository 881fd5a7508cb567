/** The folders whose changes can change the config: the root file's, each team file's, and those an `include` glob can reach. */
import { readdirSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { isDynamicPattern } from "tinyglobby";

/** Upper bound on folders watched for one glob: a `**` over a big tree must not cost thousands of watches. */
const MAX_GLOB_FOLDERS = 200;

/**
 * The folders whose changes can change the config: the root file's, each included file's, and for
 * each glob its fixed base folder and the folders under it that the glob can reach (so a file
 * created in a new team folder is seen). Dot folders (`..data`, `..2026_…`) are not descended into:
 * the kubelet's swap shows up in the folder that holds `..data`.
 */
export function watchDirs(rootPath: string, include: readonly string[], files: readonly string[]): Set<string> {
  const dirs = new Set<string>([dirname(rootPath)]);
  for (const file of files) dirs.add(dirname(file));
  for (const pattern of include) {
    const full = isAbsolute(pattern) ? pattern : resolve(dirname(rootPath), pattern);
    if (!isDynamicPattern(pattern)) {
      dirs.add(dirname(full));
      continue;
    }
    const segments = full.split("/");
    const firstDynamic = segments.findIndex((s) => isDynamicPattern(s));
    const base = segments.slice(0, firstDynamic).join("/") || "/";
    const dirSegments = segments.slice(firstDynamic, -1);
    const depth = dirSegments.includes("**") ? 4 : dirSegments.length;
    dirs.add(base);
    let budget = MAX_GLOB_FOLDERS;
    const walk = (dir: string, left: number) => {
      if (left <= 0) return;
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const name of names) {
        if (name.startsWith(".") || budget <= 0) continue;
        const sub = join(dir, name);
        try {
          if (!statSync(sub).isDirectory()) continue;
        } catch {
          continue;
        }
        budget--;
        dirs.add(sub);
        walk(sub, left - 1);
      }
    };
    walk(base, depth);
  }
  return dirs;
}
