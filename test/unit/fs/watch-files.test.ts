/** The one file watcher, on a real temp folder laid out as the kubelet lays out a ConfigMap/Secret volume. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileSecret } from "../../../src/config/secrets.js";
import { FileWatcher, foldersOf, statSignature, type WatchReason } from "../../../src/fs/watch-files.js";
import { KubeletVolume } from "../../harness/kubelet-volume.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanups.splice(0)) f();
});

/** A fresh KubeletVolume holding `files`; `swap` publishes new content the kubelet's way (rename of `..data`). */
function volume(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "attache-watch-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const kubelet = new KubeletVolume(dir);
  kubelet.write(files);
  return { dir, swap: (content: Record<string, string>) => kubelet.write(content) };
}

/** Resolves with the reasons seen once `onChange` has been called `count` times (bounded by `ms`). */
function watcherCounting(options: ConstructorParameters<typeof FileWatcher>[1]) {
  const seen: WatchReason[] = [];
  let wake: (() => void) | undefined;
  const watcher = new FileWatcher((why) => {
    seen.push(why);
    wake?.();
  }, options);
  cleanups.push(() => watcher.close());
  const next = async (count: number, ms = 5_000) => {
    const until = Date.now() + ms;
    while (seen.length < count && Date.now() < until) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return seen.slice();
  };
  return { watcher, seen, next };
}

describe("FileWatcher", () => {
  it("sees the ..data symlink swap of a file at the top of the volume, and the file then reads the new content", async () => {
    const { dir, swap } = volume({ token: "one" });
    const token = join(dir, "token");
    const { watcher, next } = watcherCounting({ debounceMs: 20, recheckMs: 0 });
    watcher.watch(foldersOf([token]));
    expect(watcher.folders).toEqual([dir]);
    const before = statSignature([token]);
    swap({ token: "two" });
    expect(await next(1)).toEqual(["change"]);
    expect(readFileSync(token, "utf8")).toBe("two");
    expect(statSignature([token])).not.toBe(before);
    swap({ token: "three" });
    expect((await next(2)).length).toBeGreaterThanOrEqual(2);
    expect(readFileSync(token, "utf8")).toBe("three");
  });

  it("follows a symlinked folder (an item path sub/token) across swaps: its target is re-watched each time", async () => {
    const { dir, swap } = volume({ "sub/token": "one" });
    const token = join(dir, "sub", "token");
    const { watcher, next, seen } = watcherCounting({ debounceMs: 20, recheckMs: 0 });
    watcher.watch(foldersOf([token]));
    // The link's target and the folder that holds the link (where the swap happens).
    expect(watcher.folders.sort()).toEqual([dir, join(dir, "sub")].sort());
    swap({ "sub/token": "two" });
    await next(1);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    // A plain rewrite inside the new target is seen too: the folder's watch moved with the swap.
    const count = seen.length;
    writeFileSync(token, "rewritten");
    await next(count + 1);
    expect(seen.length).toBeGreaterThan(count);
    expect(readFileSync(token, "utf8")).toBe("rewritten");
  });

  it("sees a plain rewrite of a regular file and debounces a burst into one call", async () => {
    const dir = mkdtempSync(join(tmpdir(), "attache-watch-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "config.yaml");
    writeFileSync(file, "a: 1\n");
    const { watcher, next, seen } = watcherCounting({ debounceMs: 100, recheckMs: 0 });
    watcher.watch([dir]);
    for (let i = 0; i < 5; i++) writeFileSync(file, `a: ${i}\n`);
    await next(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).toEqual(["change"]);
  });

  it("rechecks periodically, also for a folder that does not exist yet", async () => {
    const { watcher, next } = watcherCounting({ recheckMs: 30 });
    watcher.watch([join(tmpdir(), "attache-watch-missing-folder")]);
    expect(watcher.folders).toEqual([]);
    expect(await next(2)).toEqual(["recheck", "recheck"]);
  });

  it("statSignature marks a missing file and changes on a rewrite", () => {
    const dir = mkdtempSync(join(tmpdir(), "attache-watch-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "f");
    expect(statSignature([file])).toBe("-");
    writeFileSync(file, "1");
    const one = statSignature([file]);
    writeFileSync(file, "22");
    expect(statSignature([file])).not.toBe(one);
  });
});

describe("FileSecret through the watcher", () => {
  it("takes the new value after a ..data swap without waiting for its recheck", async () => {
    const { dir, swap } = volume({ token: "one\n" });
    const secret = new FileSecret(join(dir, "token"));
    cleanups.push(() => secret.close());
    const told: string[] = [];
    secret.onChange(() => told.push(secret.value));
    expect(secret.value).toBe("one");
    swap({ token: "two\n" });
    const until = Date.now() + 5_000;
    while (secret.value !== "two" && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(secret.value).toBe("two");
    expect(told).toEqual(["two"]);
  });
});
