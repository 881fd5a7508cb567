/**
 * Loading and schema-checking the example Kubernetes manifests (examples/kubernetes).
 *
 * Two checks, both from the Kubernetes OpenAPI spec as packaged by `kubernetes-models` (1.33):
 * - `schemaProblems`: its ajv validators (types, enums, required fields, formats).
 * - `unknownFieldProblems`: its generated TypeScript interfaces, through the TypeScript compiler's
 *   excess-property check, since the OpenAPI spec does not forbid unknown keys while
 *   `kubectl apply` (server-side field validation, strict by default) rejects them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as rbac from "kubernetes-models/rbac.authorization.k8s.io/v1";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const EXAMPLES = join(ROOT, "examples/kubernetes");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = any;

export interface Manifest {
  /** Path relative to examples/kubernetes. */
  file: string;
  /** Position of the document in its file. */
  index: number;
  doc: Doc;
}

/** apiVersion → kubernetes-models module; a kind outside these has no schema here and fails the test. */
const GROUPS: Record<string, Record<string, unknown>> = {
  v1: core,
  "apps/v1": apps,
  "networking.k8s.io/v1": networking,
  "rbac.authorization.k8s.io/v1": rbac,
};
const MODULES: Record<string, string> = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
};

/** Every YAML file under examples/kubernetes that is a manifest (kustomization.yaml is kustomize's, not the API's). */
export function manifestFiles(dir = EXAMPLES): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...manifestFiles(full));
    else if (/\.ya?ml$/.test(entry.name) && entry.name !== "kustomization.yaml") out.push(relative(EXAMPLES, full));
  }
  return out.sort();
}

/**
 * Parses a manifest file the way kubectl does: YAML 1.1 (sigs.k8s.io/yaml), so `0440` is octal.
 * Throws on any YAML error or warning.
 */
export function parseManifestText(text: string, file: string): Manifest[] {
  const docs = parseAllDocuments(text, { version: "1.1", prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  return docs
    .map((doc, index) => {
      const issues = [...doc.errors, ...doc.warnings];
      if (issues.length) throw new Error(`${file}: ${issues.map((e) => e.message).join("; ")}`);
      return { file, index, doc: doc.toJS({ maxAliasCount: 0 }) as Doc };
    })
    .filter((m) => m.doc !== null && m.doc !== undefined);
}

export function loadManifests(): Manifest[] {
  return manifestFiles().flatMap((file) => parseManifestText(readFileSync(join(EXAMPLES, file), "utf8"), file));
}

export function find(manifests: readonly Manifest[], kind: string, name: string): Doc {
  const found = manifests.filter((m) => m.doc.kind === kind && m.doc.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}/${name}, found ${found.length}`);
  return found[0]!.doc;
}

export function label(m: Manifest): string {
  return `${m.file}#${m.index} ${m.doc?.kind}/${m.doc?.metadata?.name}`;
}

/** Validation against the OpenAPI schema of the manifest's apiVersion and kind; [] when valid. */
export function schemaProblems(doc: Doc): string[] {
  const group = GROUPS[doc?.apiVersion];
  if (!group) return [`no schema for apiVersion ${JSON.stringify(doc?.apiVersion)}`];
  const Model = group[doc.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== "function") return [`no schema for ${doc.apiVersion} ${JSON.stringify(doc.kind)}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

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
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    resolve(name) === fileName ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, onError, shouldCreate);
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

/** Every container of a pod spec, init containers (native sidecars) first. */
export function containersOf(podSpec: Doc): Doc[] {
  return [...(podSpec?.initContainers ?? []), ...(podSpec?.containers ?? [])];
}
