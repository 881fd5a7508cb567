/** Build dist/ once before the suite with `npm run build`'s script: CLI tests spawn the bundle that ships, as a user would run it. */
import { spawnSync } from "node:child_process";

export default function setup(): void {
  // esbuild does not check types (that is `npm run typecheck`); it fails on what would not run.
  const r = spawnSync(process.execPath, ["scripts/build.mjs"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`global-setup: npm run build failed:\n${r.stderr}${r.stdout}`);
}
