/**
 * Unknown fields in manifests. The Kubernetes OpenAPI spec does not forbid unknown keys, so a
 * schema validator passes `restartPolicyy: Always`; `kubectl apply` (server-side field validation,
 * strict by default) rejects it. kubernetes-models generates a TypeScript interface per API type
 * from the same spec, and the TypeScript compiler's excess-property check on an object literal
 * finds exactly the keys those interfaces do not declare, at any depth.
 */
import { join, resolve } from "node:path";
import ts from "typescript";
import { label, MODULES, ROOT, type Manifest } from "./manifests.js";

const declarations = new Map<string, ts.SourceFile>();

/**
 * Fields that the Kubernetes API does not know (a typo such as `restartPolicyy`, or a field at the
 * wrong level), found by type-checking each manifest as an object literal of its kubernetes-models
 * interface. Returns one message per problem, prefixed with the manifest's label.
 */
export function unknownFieldProblems(manifests: readonly Manifest[]): string[] {
  const lines: string[] = [];
  const owners: string[] = [];
  const imports = new Map<string, string>();
  const problems: string[] = [];
  for (const m of manifests) {
    const module = MODULES[m.doc?.apiVersion];
    if (!module || typeof m.doc.kind !== "string" || !/^[A-Za-z]+$/.test(m.doc.kind)) {
      problems.push(`${label(m)}: no schema`);
      continue;
    }
    const alias = `T_${m.doc.apiVersion.replace(/\W/g, "_")}_${m.doc.kind}`;
    imports.set(alias, `import type { I${m.doc.kind} as ${alias} } from "${module}/${m.doc.kind}";`);
    owners.push(label(m));
    lines.push(`export const m${lines.length}: ${alias} = ${JSON.stringify(m.doc)};`);
  }
  const header = [...imports.values()];
  const source = [...header, ...lines].join("\n");
  // A file inside the repository, so that `kubernetes-models` resolves from node_modules; it is never written to disk.
  const fileName = join(ROOT, "test/deployment/__manifests__.ts");
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    lib: ["lib.es2022.d.ts"],
  };
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    if (resolve(name) === fileName) return ts.createSourceFile(name, source, languageVersion, true);
    // Library and kubernetes-models declarations are parsed once per worker.
    let cached = declarations.get(name);
    if (!cached) {
      cached = getSourceFile(name, languageVersion, onError, shouldCreate);
      if (cached) declarations.set(name, cached);
    }
    return cached;
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => resolve(name) === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const file = program.getSourceFile(fileName)!;
  for (const d of [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]) {
    const line = d.start === undefined ? -1 : file.getLineAndCharacterOfPosition(d.start).line - header.length;
    const owner = owners[line] ?? "manifests";
    problems.push(`${owner}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
  }
  return problems;
}
