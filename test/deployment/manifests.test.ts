/**
 * Every manifest in examples/kubernetes parses and validates against the Kubernetes API schemas,
 * and kustomization.yaml names exactly those files. The negative cases prove the checks can fail.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  EXAMPLES,
  KUSTOMIZATIONS,
  label,
  loadManifests,
  manifestFiles,
  parseManifestText,
  schemaProblems,
  type Manifest,
} from "./manifests.js";
import { unknownFieldProblems } from "./strict-fields.js";

let manifests: Manifest[];
beforeAll(() => {
  manifests = loadManifests();
});

describe("examples/kubernetes manifests", () => {
  it("parse as YAML (as kubectl reads them) into objects with apiVersion, kind and a name", () => {
    expect(manifestFiles().length).toBeGreaterThanOrEqual(8);
    for (const m of manifests) {
      expect(typeof m.doc, label(m)).toBe("object");
      expect(m.doc.apiVersion, label(m)).toMatch(/^[a-z0-9.]*\/?v\d+((alpha|beta)\d+)?$/);
      expect(m.doc.kind, label(m)).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(m.doc.metadata?.name, label(m)).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });

  it("validate against the Kubernetes OpenAPI schemas", async () => {
    const problems = (await Promise.all(manifests.map(async (m) => (await schemaProblems(m.doc)).map((p) => `${label(m)}: ${p}`)))).flat();
    expect(problems).toEqual([]);
  });

  it("use no field the Kubernetes API does not know", { timeout: 60_000 }, () => {
    expect(unknownFieldProblems(manifests)).toEqual([]);
  });

  it("are namespaced in the kustomization's namespace, with unique kind/name", () => {
    const kustomization = parse(readFileSync(join(EXAMPLES, "kustomization.yaml"), "utf8"));
    const seen = new Set<string>();
    for (const m of manifests) {
      const key = `${m.doc.kind}/${m.doc.metadata.name}`;
      expect(seen.has(key), `duplicate ${key}`).toBe(false);
      seen.add(key);
      if (m.doc.kind === "Namespace") expect(m.doc.metadata.name).toBe(kustomization.namespace);
      else expect(m.doc.metadata.namespace, label(m)).toBe(kustomization.namespace);
    }
    // No cluster-scoped grants or objects besides the namespace itself.
    expect(manifests.map((m) => m.doc.kind)).not.toContain("ClusterRole");
    expect(manifests.map((m) => m.doc.kind)).not.toContain("ClusterRoleBinding");
  });

  it("are all listed in kustomization.yaml, which lists nothing else", () => {
    const kustomization = parse(readFileSync(join(EXAMPLES, "kustomization.yaml"), "utf8"));
    expect(kustomization.apiVersion).toBe("kustomize.config.k8s.io/v1beta1");
    expect(kustomization.kind).toBe("Kustomization");
    for (const r of kustomization.resources) expect(existsSync(join(EXAMPLES, r)), r).toBe(true);
    expect([...kustomization.resources].sort()).toEqual(manifestFiles());
    // The image transformer maps the Deployment's "attache" image to a tagged one.
    const attacheImage = kustomization.images.find((i: { name: string }) => i.name === "attache");
    expect(attacheImage?.newTag).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("the other kustomizations under examples/kubernetes", () => {
  it("are exactly the folders with a kustomization.yaml, each naming every file of its folder", () => {
    const folders = readdirSync(EXAMPLES, { withFileTypes: true }).filter(
      (e) => e.isDirectory() && existsSync(join(EXAMPLES, e.name, "kustomization.yaml")),
    );
    expect(folders.map((e) => e.name).sort()).toEqual([...KUSTOMIZATIONS]);
    for (const folder of KUSTOMIZATIONS) {
      const k = parse(readFileSync(join(EXAMPLES, folder, "kustomization.yaml"), "utf8"));
      const named = [
        ...(k.resources ?? []),
        ...(k.patches ?? []).map((p: { path: string }) => p.path),
        ...(k.configMapGenerator ?? []).flatMap((g: { files: string[] }) => g.files),
      ];
      for (const file of named) expect(existsSync(join(EXAMPLES, folder, file)), `${folder}/${file}`).toBe(true);
      const files = readdirSync(join(EXAMPLES, folder)).filter((f) => f !== "kustomization.yaml");
      expect([...named].sort(), folder).toEqual(files.sort());
    }
  });
});

describe("the schema checks can fail", () => {
  const deployment = () => structuredClone(manifests.find((m) => m.doc.kind === "Deployment" && m.doc.metadata.name === "attache-demo")!);

  it("on a wrong type, a bad enum value, a missing required field, an unknown kind", async () => {
    const bad = deployment();
    bad.doc.spec.template.spec.initContainers[0].ports[0].containerPort = "nine-nine-zero-one";
    expect((await schemaProblems(bad.doc)).join("\n")).toMatch(/containerPort/);
    const badEnum = deployment();
    badEnum.doc.spec.template.spec.containers[0].imagePullPolicy = "Sometimes";
    expect((await schemaProblems(badEnum.doc)).join("\n")).toMatch(/imagePullPolicy/);
    const noName = deployment();
    delete noName.doc.spec.template.spec.containers[0].name;
    expect((await schemaProblems(noName.doc)).join("\n")).toMatch(/name/);
    expect(await schemaProblems({ apiVersion: "v1", kind: "Nope", metadata: { name: "x" } })).not.toEqual([]);
  });

  it("on an unknown field (a typo kubectl apply would reject)", { timeout: 60_000 }, () => {
    const bad = deployment();
    bad.doc.spec.template.spec.initContainers[0].restartPolicyy = "Always";
    const problems = unknownFieldProblems([bad]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/restartPolicyy/);
  });

  it("on YAML that kubectl would not read as intended", () => {
    expect(() => parseManifestText("a: 1\na: 2\n", "dup.yaml")).toThrow(/dup.yaml/);
    // YAML 1.1 as kubectl: a file mode written 0440 is octal.
    expect(parseManifestText("defaultMode: 0440\n", "mode.yaml")[0]!.doc.defaultMode).toBe(0o440);
  });
});
