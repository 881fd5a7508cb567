/** Build dist/ once before the suite: CLI tests spawn the built binary, as a user would run it. */
import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
}
