// Before `npm test`: the system programs that npm cannot bring. Installs them (apt-get, as root) when
// missing, or stops at once with one line saying what to install — never a wall of failures.
import { execFileSync, spawnSync } from "node:child_process";

const needed = [
  { bin: "redis-server", pkg: "redis-server" },
  { bin: "redis-cli", pkg: "redis-tools" },
  { bin: "redis-benchmark", pkg: "redis-tools" },
  { bin: "redis-sentinel", pkg: "redis-sentinel" },
];

const has = (bin) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
let missing = needed.filter((n) => !has(n.bin));
if (missing.length > 0 && process.getuid?.() === 0 && has("apt-get")) {
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  console.log(`preflight: installing ${pkgs.join(" ")} with apt-get`);
  try {
    execFileSync("sh", ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs.join(" ")} >/dev/null`], {
      stdio: "inherit",
    });
  } catch {
    // fall through to the check below
  }
  missing = needed.filter((n) => !has(n.bin));
}
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  console.error(
    `preflight: missing ${missing.map((m) => m.bin).join(", ")}: install with "apt-get install -y ${pkgs.join(" ")}" and run npm test again`,
  );
  process.exit(1);
}
