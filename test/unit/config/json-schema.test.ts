import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configJsonSchema, SCHEMA_PATH } from "../../../src/config/json-schema.js";

describe("config/attache.schema.json", () => {
  it("is generated from the schema and up to date (run `npm run schema`)", () => {
    expect(readFileSync(SCHEMA_PATH, "utf8")).toBe(configJsonSchema());
  });

  it("describes every route key, so editors flag typos", () => {
    const schema = JSON.parse(configJsonSchema()) as {
      properties: { routes: { items: { properties: Record<string, unknown>; additionalProperties: boolean } } };
    };
    const route = schema.properties.routes.items;
    expect(Object.keys(route.properties).sort()).toEqual(
      [
        "allow",
        "circuitBreaker",
        "deny",
        "headers",
        "maxBodySize",
        "methods",
        "name",
        "pool",
        "prefix",
        "retry",
        "streaming",
        "stripPrefix",
        "timeout",
        "upstream",
      ].sort(),
    );
    expect(route.additionalProperties).toBe(false);
  });
});
