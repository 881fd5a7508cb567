/** startAttache(config) → attache running in-process on 127.0.0.1:0 with its config in a temp folder. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { start, type Running } from "../../src/lifecycle/start.js";

export interface AttacheUnderTest {
  running: Running;
  /** http://127.0.0.1:PORT of the app-facing listener. */
  url: string;
  adminUrl: string;
  /** The temp folder holding attache.yaml and any other files. */
  dir: string;
  stop(): Promise<void>;
}

export interface AttacheFiles {
  /** attache.yaml text. `listen` and `admin` default to 127.0.0.1:0 unless it sets them. */
  root: string;
  /** Other files, relative to the config folder (route files, secrets). */
  files?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
}

export async function startAttache(config: string | AttacheFiles): Promise<AttacheUnderTest> {
  const { root, files = {}, env } = typeof config === "string" ? { root: config } : config;
  const dir = mkdtempSync(join(tmpdir(), "attache-test-"));
  writeConfig(dir, root, files);
  const running = await start({ configPath: dir, env: { ...process.env, ...env } });
  return {
    running,
    dir,
    url: `http://${running.listen}`,
    adminUrl: `http://${running.admin}`,
    async stop() {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Lay out a config folder: attache.yaml (with listen/admin on port 0 unless set) and the other files. */
export function writeConfig(dir: string, root: string, files: Record<string, string> = {}): void {
  const header = [
    /^listen:/m.test(root) ? "" : "listen: 127.0.0.1:0",
    /^admin:/m.test(root) ? "" : "admin: 127.0.0.1:0",
    /^log:/m.test(root) ? "" : "log: { level: warn, access: false }",
  ]
    .filter(Boolean)
    .join("\n");
  writeFileSync(join(dir, "attache.yaml"), `${header}\n${root}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** A temp config folder for loader/CLI tests; removed by the returned function. */
export function tempConfig(root: string, files: Record<string, string> = {}): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "attache-cfg-"));
  writeFileSync(join(dir, "attache.yaml"), root);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
