/** The listener addresses of a config (app, admin, probe, RESP): loopback unless allowed, and each used once. */
import { parseHostPort } from "../net/address.js";
import type { SourceFile } from "./load.js";
import { at } from "./problem-at.js";
import { formatPath, type ConfigProblem } from "./problems.js";

/** One listener address and where it was written; `anywhere`: may bind beyond loopback without allowNonLoopback. */
export interface ListenerAddress {
  address: string;
  file: SourceFile;
  path: PropertyKey[];
  anywhere?: boolean;
}

export function addressProblems(addresses: readonly ListenerAddress[], allowNonLoopback: boolean): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, string>();
  for (const a of addresses) {
    const label = formatPath(a.path);
    if (!allowNonLoopback && !a.anywhere && !isLoopback(a.address)) {
      problems.push(
        at(
          a.file,
          a.path,
          `${a.address} is not a loopback address; set allowNonLoopback: true in the root file to expose attache beyond this machine`,
        ),
      );
    }
    // Port 0 asks the OS for a free port: never a clash (tests use it for every listener).
    const other = a.address.endsWith(":0") ? undefined : seen.get(a.address);
    if (other) problems.push(at(a.file, a.path, `${a.address} is already used by ${other}`));
    else seen.set(a.address, `${label} in ${a.file.path}`);
  }
  return problems;
}

export function isLoopback(address: string): boolean {
  const { host } = parseHostPort(address);
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
