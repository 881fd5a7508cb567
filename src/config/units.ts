/** Durations ("250ms", "5s", "2m" or integer ms) and sizes ("1mb", "512kb" or integer bytes) as numbers. */
import bytes from "bytes";
import ms from "ms";

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  // `ms` also accepts a bare "100" as milliseconds and "1.5h"; both are fine in a config file.
  const out = ms(value.trim() as ms.StringValue) as number | undefined;
  return typeof out === "number" && Number.isFinite(out) && out >= 0 ? Math.round(out) : undefined;
}

/** Bytes, or undefined when the text is not a size. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (!/^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?\s*$/i.test(value)) return undefined;
  const out = bytes.parse(value);
  return out === null || !Number.isFinite(out) || out < 0 ? undefined : out;
}

/** Milliseconds as a config file would write them, exactly: 90000 → "90s" (ms() would round it to "2m"), 1500 → "1500ms". */
export function formatDuration(msValue: number): string {
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ] as const)
    if (msValue >= size && msValue % size === 0) return `${msValue / size}${unit}`;
  return `${msValue}ms`;
}

/** Bytes as a config file would write them: 16777216 → "16mb". */
export function formatSize(value: number): string {
  return (bytes.format(value, { unitSeparator: "" }) ?? String(value)).toLowerCase();
}
