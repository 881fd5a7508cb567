/**
 * The attache-sidecar kustomize Component, rendered by kustomize itself: through the sidecar-example
 * overlay (an app Deployment that knows nothing of attache), and on Deployments written here that it
 * must add to once, or leave alone. The result validates against the Kubernetes schemas, carries the
 * same sidecar as the demo's deployment.yaml, and its config passes attache's own validation.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/validate.js";
import { hasKubectl, kustomize } from "./kustomize.js";
import { EXAMPLES, find, label, loadManifests, parseManifestText, schemaProblems, type Doc, type Manifest } from "./manifests.js";
import { materializeSidecar, podView, SIDECAR, type PodView } from "./pod.js";
import { unknownFieldProblems } from "./strict-fields.js";

const KUBECTL = hasKubectl();
if (!KUBECTL) console.warn("kubectl not found at /usr/bin/kubectl: the kustomize renderings of this file are skipped");

const COMPONENT = join(EXAMPLES, "attache-sidecar");
const sidecarsOf = (pod: Doc): Doc[] => (pod.initContainers ?? []).filter((c: Doc) => c.name === SIDECAR);

describe.runIf(KUBECTL)("the sidecar-example overlay (the Component on an app's own Deployment)", () => {
  let rendered: Manifest[];
  let view: PodView;
  let written: Doc;
  let demo: PodView;

  beforeAll(() => {
    rendered = kustomize("sidecar-example");
    view = podView(rendered, "web", "web");
    const file = "sidecar-example/deployment.yaml";
    written = find(parseManifestText(readFileSync(join(EXAMPLES, file), "utf8"), file), "Deployment", "web");
    demo = podView(loadManifests());
  });

  it("renders objects that validate against the Kubernetes schemas, with no unknown field", { timeout: 60_000 }, async () => {
    expect(rendered.map((m) => `${m.doc.kind}/${m.doc.metadata.name}`).sort()).toEqual([
      "ConfigMap/attache-root",
      "Deployment/web",
      "Namespace/attache-example",
    ]);
    const problems = (await Promise.all(rendered.map(async (m) => (await schemaProblems(m.doc)).map((p) => `${label(m)}: ${p}`)))).flat();
    expect(problems).toEqual([]);
    expect(unknownFieldProblems(rendered)).toEqual([]);
  });

  it("adds attache once, first, as a native sidecar with the demo's args, env, port, probes and resources", () => {
    const { pod, sidecar } = view;
    expect(sidecarsOf(pod)).toHaveLength(1);
    expect(pod.initContainers[0]).toBe(sidecar);
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.image).toBe("attache:0.1.0");
    for (const key of ["args", "env", "ports", "startupProbe", "readinessProbe", "livenessProbe", "resources", "imagePullPolicy"])
      expect(sidecar[key], key).toEqual(demo.sidecar[key]);
    for (const probe of [sidecar.startupProbe, sidecar.readinessProbe, sidecar.livenessProbe]) {
      expect(probe.httpGet.port).toBe("admin");
      expect(probe.httpGet.httpHeaders).toEqual([{ name: "Host", value: "localhost" }]);
    }
    // The demo's, plus a seccomp profile of its own: restricted whatever the app's pod says.
    expect(sidecar.securityContext).toEqual({ ...demo.sidecar.securityContext, seccompProfile: { type: "RuntimeDefault" } });
  });

  it("mounts one projected config folder without subPath, a short-lived token with the cluster CA, and /tmp", () => {
    const { pod, sidecar } = view;
    const volume = (name: string): Doc => pod.volumes.find((v: Doc) => v.name === name);
    expect(sidecar.volumeMounts).toEqual([
      { name: "attache-config", mountPath: "/etc/attache", readOnly: true },
      { name: "kube-api-access", mountPath: "/var/run/secrets/attache/kubernetes", readOnly: true },
      { name: "tmp", mountPath: "/tmp" },
    ]);
    expect(pod.volumes.map((v: Doc) => v.name)).toEqual(["attache-config", "kube-api-access", "tmp"]);
    expect(volume("attache-config").projected.sources).toEqual([
      { configMap: { name: "attache-root", items: [{ key: "attache.yaml", path: "attache.yaml" }] } },
    ]);
    const token = volume("kube-api-access").projected;
    const sat = token.sources.find((s: Doc) => s.serviceAccountToken).serviceAccountToken;
    expect(sat.expirationSeconds).toBeGreaterThanOrEqual(600);
    expect(sat.expirationSeconds).toBeLessThanOrEqual(3600);
    expect(token.sources.find((s: Doc) => s.configMap)?.configMap.name).toBe("kube-root-ca.crt");
    expect(token.defaultMode).toBe(0o440);
    expect(volume("tmp").emptyDir).toBeDefined();
  });

  it("leaves the app's container, selector and pod settings as written, adding only what attache needs", () => {
    const spec = written.spec.template.spec;
    const { deployment, pod } = view;
    expect(pod.containers).toEqual(spec.containers);
    expect(deployment.spec.selector).toEqual(written.spec.selector);
    expect(deployment.spec.template.metadata.labels).toEqual({ ...written.spec.template.metadata.labels, "attache.io/sidecar": "enabled" });
    expect(pod.securityContext).toEqual({ ...spec.securityContext, fsGroup: 1000 });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(Object.keys(pod).sort()).toEqual([...Object.keys(spec), "automountServiceAccountToken", "initContainers", "volumes"].sort());
  });

  it("stays within the restricted Pod Security Standard that its namespace enforces", () => {
    expect(find(rendered, "Namespace", view.deployment.metadata.namespace).metadata.labels["pod-security.kubernetes.io/enforce"]).toBe(
      "restricted",
    );
    const { pod } = view;
    for (const v of pod.volumes)
      expect(Object.keys(v).filter((k) => k !== "name")[0]).toMatch(/^(configMap|secret|projected|emptyDir|downwardAPI)$/);
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.securityContext.allowPrivilegeEscalation, c.name).toBe(false);
      expect(c.securityContext.capabilities.drop, c.name).toEqual(["ALL"]);
      expect(c.securityContext.runAsNonRoot ?? pod.securityContext.runAsNonRoot, c.name).toBe(true);
      expect((c.securityContext.seccompProfile ?? pod.securityContext.seccompProfile)?.type, c.name).toBe("RuntimeDefault");
    }
  });

  it("loads a config that attache validates, through the mounts the Component adds", async () => {
    const root = mkdtempSync(join(tmpdir(), "attache-sidecar-example-"));
    try {
      const { env } = materializeSidecar(rendered, root, view);
      const loaded = await loadConfig({ configPath: join(root, "/etc/attache"), env, cwd: root });
      expect(loaded.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`)).toEqual([]);
      expect(loaded.config!.routes.map((r) => r.prefix)).toEqual(["/k8s"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe.runIf(KUBECTL)("the Component on Deployments written elsewhere", () => {
  let dir: string;
  let out: Manifest[];
  const deployment = (name: string, labelled: boolean, spec: Doc): Doc => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, ...(labelled ? { labels: { "attache.io/sidecar": "enabled" } } : {}) },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } },
  });
  const app = { name: "app", image: "example/app:1" };
  const inputs = [
    deployment("unlabelled", false, { containers: [app] }),
    deployment("with-init", true, {
      initContainers: [{ name: "migrate", image: "example/migrate:1" }],
      containers: [app],
      volumes: [{ name: "data", emptyDir: {} }],
      securityContext: { runAsUser: 2000 },
    }),
    // Already lists a container named attache: merged by name, never a second one.
    deployment("has-attache", true, { initContainers: [{ name: SIDECAR, image: "attache:old" }], containers: [app] }),
  ];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "attache-component-"));
    writeFileSync(join(dir, "apps.yaml"), inputs.map((d) => JSON.stringify(d)).join("\n---\n"));
    // kustomize takes components by relative path only.
    writeFileSync(join(dir, "kustomization.yaml"), JSON.stringify({ resources: ["apps.yaml"], components: [relative(dir, COMPONENT)] }));
    out = kustomize(dir);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("leaves a Deployment without the label untouched", () => {
    expect(find(out, "Deployment", "unlabelled")).toEqual(inputs[0]);
  });

  it("adds attache before the Deployment's own init containers, keeping its volumes and pod settings", () => {
    const pod = find(out, "Deployment", "with-init").spec.template.spec;
    expect(pod.initContainers.map((c: Doc) => c.name)).toEqual([SIDECAR, "migrate"]);
    expect(pod.volumes.map((v: Doc) => v.name).sort()).toEqual(["attache-config", "data", "kube-api-access", "tmp"]);
    expect(pod.securityContext).toEqual({ runAsUser: 2000, fsGroup: 1000 });
    expect(pod.containers).toEqual([app]);
  });

  it("keeps one attache when the Deployment already names one", () => {
    const pod = find(out, "Deployment", "has-attache").spec.template.spec;
    expect(sidecarsOf(pod)).toHaveLength(1);
    expect(sidecarsOf(pod)[0].restartPolicy).toBe("Always");
  });
});
