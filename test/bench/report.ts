/** Medians with min–max, and the one printed table (plain text, aligned columns). */

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(values: number[]): Summary | undefined {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!xs.length) return undefined;
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { median, min: xs[0]!, max: xs[xs.length - 1]!, n: xs.length };
}

/** 12345 → "12.3k"; small numbers keep 2–3 significant digits. */
export function num(v: number | undefined, digits = 3): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(digits)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(digits)}k`;
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(digits);
}

/** "12.3k (11.9k–12.8k)" */
export function spread(s: Summary | undefined, digits = 3): string {
  if (!s) return "-";
  return s.n > 1 ? `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})` : num(s.median, digits);
}

export function ms(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}

export interface TableSection {
  title: string;
  header: string[];
  rows: string[][];
  notes?: string[];
}

export function renderTable(sections: TableSection[]): string {
  const out: string[] = [];
  for (const section of sections) {
    // A row of [target, message] (a peer that is missing or failed) spans the columns and sets no width.
    const full = [section.header, ...section.rows.filter((r) => r.length > 2 || section.header.length <= 2)];
    const widths = section.header.map((_, i) => Math.max(...full.map((r) => (r[i] ?? "").length)));
    const line = (r: string[]) =>
      r.length === 2 && section.header.length > 2
        ? `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]}`
        : `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")}`.trimEnd();
    out.push("", section.title, line(section.header), `  ${widths.map((w) => "-".repeat(w)).join("  ")}`, ...section.rows.map(line));
    for (const note of section.notes ?? []) out.push(`  · ${note}`);
  }
  return out.join("\n");
}

export interface TargetCheck {
  name: string;
  /** What the figure is compared with ("node:http + undici", "kubectl proxy", "-" for an absolute goal). */
  reference: string;
  goal: string;
  measured: string;
  met: boolean | undefined;
}

/** One row per target: target, reference, goal, measured, ✔ / ✘ (n/a when a peer or figure is missing). */
export function renderTargets(checks: TargetCheck[]): string {
  const header = ["target", "reference", "goal", "measured", "met"];
  const rows = checks.map((c) => [c.name, c.reference, c.goal, c.measured, c.met === undefined ? "n/a" : c.met ? "✔" : "✘"]);
  const widths = header.slice(0, 3).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `  ${r[4]!.padEnd(3)}  ${r
      .slice(0, 3)
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")}  ${r[3]}`.trimEnd();
  return ["", "Targets", line(header), ...rows.map(line)].join("\n");
}

/**
 * The same rows as a Markdown table, each figure up to its first ";" and without its (min–max) range
 * (the ratio, not the raw req/s and CPU that follow): the README's performance table, as printed.
 */
export function renderTargetsMarkdown(checks: TargetCheck[]): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  return [
    "| met | target | reference | goal | measured |",
    "| --- | --- | --- | --- | --- |",
    ...checks.map((c) => {
      const figure = c.measured.split(";")[0]!.replace(/ \([\d.]+–[\d.]+\)/g, "");
      return `| ${c.met === undefined ? "n/a" : c.met ? "✔" : "✘"} | ${[c.name, c.reference, c.goal, figure].map(cell).join(" | ")} |`;
    }),
    "",
  ].join("\n");
}
