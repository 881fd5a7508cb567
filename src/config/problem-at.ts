/** A ConfigProblem located at a field path of a source file (its file:line:col). */
import type { SourceFile } from "./load.js";
import { formatPath, type ConfigProblem } from "./problems.js";

export function at(source: SourceFile, path: readonly PropertyKey[], message: string): ConfigProblem {
  return { file: source.path, ...source.locate(path), path: formatPath(path), message };
}
