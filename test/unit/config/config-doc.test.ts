import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_DOC_PATH, configReference } from "../../../src/config/config-doc.js";
import { configJsonSchema } from "../../../src/config/json-schema.js";

interface Json {
  description?: string;
  properties?: Record<string, Json>;
  items?: Json;
  anyOf?: Json[];
  additionalProperties?: Json | boolean;
}

/** Every key of every object the schema holds, with its dotted path. */
function keys(schema: Json, path = ""): Array<{ path: string; schema: Json }> {
  const out: Array<{ path: string; schema: Json }> = [];
  for (const [key, value] of Object.entries(schema.properties ?? {})) {
    const here = path ? `${path}.${key}` : key;
    out.push({ path: here, schema: value }, ...keys(value, here));
  }
  if (schema.items) out.push(...keys(schema.items, `${path}[]`));
  if (schema.additionalProperties && typeof schema.additionalProperties === "object")
    out.push(...keys(schema.additionalProperties, `${path}.*`));
  for (const alternative of schema.anyOf ?? []) out.push(...keys(alternative, path));
  return out;
}

describe("docs/configuration.md", () => {
  it("is generated from the schema and up to date (run `npm run docs`)", () => {
    expect(readFileSync(CONFIG_DOC_PATH, "utf8")).toBe(configReference());
  });

  it("has a description for every key of the schema", () => {
    const schema = JSON.parse(configJsonSchema()) as Json;
    const undescribed = keys(schema)
      .filter((k) => !k.schema.description?.trim())
      .map((k) => k.path);
    expect(undescribed).toEqual([]);
  });

  it("lists every key of the schema in a table row", () => {
    const doc = configReference();
    const schema = JSON.parse(configJsonSchema()) as Json;
    const missing = keys(schema)
      .map((k) => k.path.split(".").pop()!.replace(/\[\]$/, ""))
      .filter((leaf) => !doc.includes(`${leaf}\` |`));
    expect(missing).toEqual([]);
  });

  it("states built-in defaults from src/config/defaults.ts", () => {
    const doc = configReference();
    expect(doc).toContain("| `listen` | host:port | App-facing HTTP listener, host:port. Default 127.0.0.1:8001. |");
    expect(doc).toMatch(/`pool\.idleTimeout` \| duration \| .*Default 4s; kubernetes routes 90s, as client-go\. \|/);
    expect(doc).toMatch(/`maxBodySize` \| size \| .*Default 10mb\. \|/);
  });
});
