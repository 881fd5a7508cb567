/** Build dist/ once before the suite: CLI tests spawn the built binary, as a user would run it. */
import { spawnSync } from "node:child_process";

export default function setup(): void {
  // tsc emits even when a type check fails; the type check itself is `npm run typecheck`'s job.
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { encoding: "utf8" });
  if (r.status !== 0) process.stderr.write(`global-setup: tsc reported errors (dist/ was still written):\n${r.stdout}`);
}
