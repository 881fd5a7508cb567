/** /config: generation, when it was loaded, its files, and the last rejected reload (until fixed). */
import type { RequestHandler } from "express";
import type { State } from "../lifecycle/generation.js";
import { formatProblem } from "../config/problems.js";

export function configView(state: State): RequestHandler {
  return (_req, res) => {
    const g = state.current;
    res.json({
      generation: g.id,
      loadedAt: g.loadedAt.toISOString(),
      rootFile: g.config.rootFile,
      sources: g.config.files,
      lastReloadSuccessful: state.config.lastReloadSuccessful,
      lastSuccessAt: state.config.lastSuccessAt.toISOString(),
      rejectedFiles: state.config.rejectedFiles,
      lastError: state.lastError ? { at: state.lastError.at.toISOString(), problems: state.lastError.problems.map(formatProblem) } : null,
    });
  };
}
