/**
 * Loading and schema-checking the example Kubernetes manifests (examples/kubernetes).
 *
 * `schemaProblems` checks a manifest against the Kubernetes OpenAPI spec as packaged by
 * `kubernetes-models` (Kubernetes 1.33): its ajv validators (types, enums, required fields, formats).
 * Unknown fields are found by `unknownFieldProblems` (strict-fields.ts).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const EXAMPLES = join(ROOT, "examples/kubernetes");

/** A parsed YAML document of any kind (Kubernetes, Prometheus, Grafana): the tests read into it freely (Biome warns). */
export type Doc = any;

export interface Manifest {
  /** Path relative to examples/kubernetes. */
  file: string;
  /** Position of the document in its file. */
  index: number;
  doc: Doc;
}

/** apiVersion → kubernetes-models module; a kind outside these has no schema here and fails the test. */
export const MODULES: Record<string, string> = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  // The Prometheus Operator's CRDs (monitoring/), from the operator's own CRD schemas.
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

/** Folders under examples/kubernetes that are kustomizations of their own, not part of the demo's. */
export const KUSTOMIZATIONS = ["attache-sidecar", "monitoring", "sidecar-example"] as const;

/**
 * Every YAML file of the demo under examples/kubernetes that is a manifest (kustomization.yaml is
 * kustomize's, not the API's). A folder with a kustomization.yaml of its own is another kustomization
 * (KUSTOMIZATIONS): skipped here, rendered with kustomize by the tests that cover it.
 */
export function manifestFiles(dir = EXAMPLES): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory() && existsSync(join(full, "kustomization.yaml"))) continue;
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
export async function schemaProblems(doc: Doc): Promise<string[]> {
  const module = MODULES[doc?.apiVersion];
  if (!module) return [`no schema for apiVersion ${JSON.stringify(doc?.apiVersion)}`];
  const kind = String(doc.kind);
  // One model module per kind (kubernetes-models/apps/v1/Deployment): loading a whole group index is slow.
  const loaded = /^[A-Z][A-Za-z]+$/.test(kind)
    ? ((await import(`${module}/${kind}`).catch(() => undefined)) as Record<string, unknown> | undefined)
    : undefined;
  const Model = loaded?.[kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== "function") return [`no schema for ${doc.apiVersion} ${JSON.stringify(doc.kind)}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** Every container of a pod spec, init containers (native sidecars) first. */
export function containersOf(podSpec: Doc): Doc[] {
  return [...(podSpec?.initContainers ?? []), ...(podSpec?.containers ?? [])];
}
