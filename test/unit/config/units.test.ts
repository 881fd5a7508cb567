/** Durations as attache prints them (routes, /routes, the configuration reference): exact, never rounded. */
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../../src/config/units.js";

describe("formatDuration", () => {
  it("writes the largest unit that divides the value exactly", () => {
    expect(formatDuration(90_000)).toBe("90s");
    expect(formatDuration(60_000)).toBe("1m");
    expect(formatDuration(7_200_000)).toBe("2h");
    expect(formatDuration(1_500)).toBe("1500ms");
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(0)).toBe("0ms");
  });

  it("reads back as the same number of milliseconds", () => {
    for (const value of [0, 1, 999, 1_000, 1_500, 4_000, 59_999, 90_000, 3_600_000, 5_400_000])
      expect(parseDuration(formatDuration(value))).toBe(value);
  });
});
