/**
 * findRootConfig reads the YAML/JSON search places itself (cosmiconfig is loaded only for JS/TS configs);
 * it must find exactly the file cosmiconfig's search would, in every arrangement of candidate files.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cosmiconfig } from "cosmiconfig";
import { afterAll, describe, expect, it } from "vitest";
import { findRootConfig, SEARCH_PLACES } from "../../../src/config/load.js";
import { ConfigError } from "../../../src/config/problems.js";

const rawText = (_path: string, content: string) => (content.trim() ? content : null);
/** The finder attache used before: cosmiconfig with raw-text YAML loaders. */
const reference = cosmiconfig("attache", {
  searchPlaces: SEARCH_PLACES,
  searchStrategy: "none",
  cache: false,
  loaders: {
    ".yaml": rawText,
    ".yml": rawText,
    noExt: rawText,
    ".json": (_path, content) => {
      try {
        return JSON.parse(content) as unknown;
      } catch {
        return content;
      }
    },
  },
});

const root = mkdtempSync(join(tmpdir(), "attache-find-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Candidate contents per search place; undefined: no such file. */
const variants: Record<string, Array<string | undefined>> = {
  "attache.yaml": [undefined, "", "  \n", "listen: 127.0.0.1:0\n", "{ bad yaml"],
  ".attacherc": [undefined, "listen: 127.0.0.1:0\n"],
  ".attacherc.json": [undefined, "null", "{}", "{ broken", '{"listen":"127.0.0.1:0"}'],
  "attache.config.yml": [undefined, "routes: []\n"],
  "package.json": [undefined, '{"name":"x"}', '{"attache":{"listen":"127.0.0.1:0"}}', '{"attache":null}', "not json"],
};

function* arrangements(): Generator<Record<string, string | undefined>> {
  const places = Object.keys(variants);
  const pick = (i: number, chosen: Record<string, string | undefined>): Generator<Record<string, string | undefined>> =>
    (function* () {
      if (i === places.length) return yield { ...chosen };
      for (const v of variants[places[i]!]!) yield* pick(i + 1, { ...chosen, [places[i]!]: v });
    })();
  yield* pick(0, {});
}

async function reference_(dir: string): Promise<string | null> {
  try {
    return (await reference.search(dir))?.filepath ?? null;
  } catch {
    return "throws";
  }
}

async function ours(dir: string): Promise<string | null> {
  try {
    return await findRootConfig({ configPath: dir, env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return null;
    return "throws";
  }
}

describe("findRootConfig", () => {
  it("finds what cosmiconfig's search finds, for every arrangement of YAML and JSON candidates", async () => {
    let n = 0;
    for (const files of arrangements()) {
      // Arrangements are many; a deterministic sample of them keeps the test short.
      if (n++ % 7 !== 0) continue;
      const dir = join(root, `a${n}`);
      mkdirSync(dir);
      for (const [place, content] of Object.entries(files)) if (content !== undefined) writeFileSync(join(dir, place), content);
      expect({ files, found: await ours(dir) }).toEqual({ files, found: await reference_(dir) });
    }
  });

  it("leaves JS configs to cosmiconfig, in search order", async () => {
    const dir = join(root, "js");
    mkdirSync(dir);
    writeFileSync(join(dir, "attache.config.mjs"), "export default { listen: '127.0.0.1:0' };\n");
    expect(await ours(dir)).toBe(join(dir, "attache.config.mjs"));
    writeFileSync(join(dir, "attache.config.yaml"), "listen: 127.0.0.1:0\n");
    expect(await ours(dir)).toBe(join(dir, "attache.config.yaml"));
  });
});
