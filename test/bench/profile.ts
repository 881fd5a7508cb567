/** Summarise a V8 .cpuprofile: self time by function and by file/package, biggest first. */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Not idle: what the process spent working. */
  busyMs: number;
  functions: ProfileEntry[];
  files: ProfileEntry[];
  /** Inclusive time of functions that matter to the issue's checklist (per-request work). */
  inclusive: ProfileEntry[];
}

/** "file:///work/main/dist/proxy/pipeline.js" → "dist/proxy/pipeline.js"; node_modules → the package. */
function place(url: string): string {
  if (!url) return "";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/");
    return `npm:${rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const dist = url.indexOf("/dist/");
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, "");
}

export function summarizeProfile(path: string, watch: string[] = []): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfByNode = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
  });
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfByNode) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const where = place(url);
    const key = where ? `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}` : functionName;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const fileKey = where.startsWith("npm:") || !where ? where || functionName : where.startsWith("node:") ? where : where;
    file.set(fileKey, (file.get(fileKey) ?? 0) + us);
    // Inclusive time for watched function names: each sample counted once per watched name on its stack.
    if (watch.length) {
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const name = byId.get(cur)?.callFrame.functionName ?? "";
        if (watch.includes(name) && !seen.has(name)) {
          seen.add(name);
          inclusive.set(name, (inclusive.get(name) ?? 0) + us);
        }
      }
    }
  }
  const busyUs = totalUs - idleUs;
  const top = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / busyUs }));
  return {
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    functions: top(fn, 30),
    files: top(file, 20),
    inclusive: top(inclusive, watch.length),
  };
}

export function renderProfile(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  return [
    `profile: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy (shares below are of busy time)`,
    "  self time by function:",
    ...s.functions.map((e) => `    ${pct(e.share)}  ${e.name}`),
    "  self time by file / package:",
    ...s.files.map((e) => `    ${pct(e.share)}  ${e.name}`),
    ...(s.inclusive.length
      ? ["  inclusive time (function and what it calls):", ...s.inclusive.map((e) => `    ${pct(e.share)}  ${e.name}`)]
      : []),
  ].join("\n");
}
