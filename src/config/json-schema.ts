/**
 * The JSON Schema of the config, generated from schema.ts (`npm run schema` writes
 * config/attache.schema.json; a test checks it is up to date). The root schema also accepts team
 * route files: `owner` and `routes` are root keys too.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { rootSchema } from "./schema.js";

export const SCHEMA_PATH = fileURLToPath(new URL("../../config/attache.schema.json", import.meta.url));

export function configJsonSchema(): string {
  const schema = z.toJSONSchema(rootSchema, { io: "input", target: "draft-2020-12" });
  return `${JSON.stringify({ ...schema, title: "attache config (root file or team route file)" }, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_PATH, configJsonSchema());
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
}
