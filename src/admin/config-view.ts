/** /config: generation, when it was loaded, its files, and the last rejected reload (until fixed). */
import type { State } from "../lifecycle/generation.js";
import { formatProblem } from "../config/problems.js";
import { sendJson, type AdminHandler } from "./respond.js";

export function configView(state: State): AdminHandler {
  return (_req, res) => {
    const g = state.current;
    sendJson(res, 200, {
      generation: g.id,
      loadedAt: g.loadedAt.toISOString(),
      rootFile: g.config.rootFile,
      sources: g.config.files,
      lastError: state.lastError ? { at: state.lastError.at.toISOString(), problems: state.lastError.problems.map(formatProblem) } : null,
    });
  };
}
