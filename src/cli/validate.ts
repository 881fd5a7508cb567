/** attache validate: exit 0 with a one-line summary, or 1 with one "file:line:col: message" per problem. */
import { ConfigError, formatProblem } from "../config/problems.js";
import { loadConfig } from "../config/validate.js";
import type { FindOptions } from "../config/load.js";

export async function validateCommand(options: FindOptions): Promise<number> {
  try {
    const { config, problems } = await loadConfig(options);
    if (!config) {
      for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 1;
    }
    process.stdout.write(`ok: ${config.routes.length} route(s) from ${config.files.length} file(s), root ${config.rootFile}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 1;
    }
    throw err;
  }
}
