/**
 * The pod template follows current practice for an ambassador sidecar: native sidecar with probes
 * on the admin port, hardened security context, config folder from a projected volume without
 * subPath, a bounded service-account token for attache only, the Redis password as a file, and the
 * seed scenario's curl app calling the API server through localhost.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { containersOf, find, loadManifests, type Doc, type Manifest } from "./manifests.js";
import { podView, type PodView } from "./pod.js";

let manifests: Manifest[];
let view: PodView;

beforeAll(() => {
  manifests = loadManifests();
  view = podView(manifests);
});

const volume = (name: string): Doc => view.pod.volumes.find((v: Doc) => v.name === name);
const mountsOf = (container: Doc, volumeName: string): Doc[] => (container.volumeMounts ?? []).filter((m: Doc) => m.name === volumeName);

describe("the attache-demo pod", () => {
  it("runs attache as a native sidecar that gates the app with a startup probe", () => {
    const { pod, sidecar } = view;
    expect(pod.initContainers.indexOf(sidecar)).toBe(0);
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.args).toEqual(["run", "-c", "/etc/attache"]);
    expect(sidecar.command).toBeUndefined(); // the image's ENTRYPOINT: node dist/main.js
    expect(sidecar.startupProbe.httpGet.path).toBe("/readyz");
    expect(sidecar.readinessProbe.httpGet.path).toBe("/readyz");
    expect(sidecar.livenessProbe.httpGet.path).toBe("/healthz");
    for (const probe of [sidecar.startupProbe, sidecar.readinessProbe, sidecar.livenessProbe]) expect(probe.httpGet.port).toBe("admin");
    expect(sidecar.ports).toEqual([{ name: "admin", containerPort: 9901, protocol: "TCP" }]);
    // The startup budget is generous; liveness never kills a process that is merely slow to start.
    expect(sidecar.startupProbe.periodSeconds * sidecar.startupProbe.failureThreshold).toBeGreaterThanOrEqual(30);
  });

  it("sets resources and a hardened security context on every container", () => {
    const { pod } = view;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
    for (const c of containersOf(pod)) {
      expect(c.securityContext.runAsNonRoot, c.name).toBe(true);
      expect(c.securityContext.runAsUser, c.name).toBeGreaterThan(0);
      expect(c.securityContext.allowPrivilegeEscalation, c.name).toBe(false);
      expect(c.securityContext.readOnlyRootFilesystem, c.name).toBe(true);
      expect(c.securityContext.capabilities.drop, c.name).toEqual(["ALL"]);
      expect(c.securityContext.capabilities.add, c.name).toBeUndefined();
      expect(c.securityContext.privileged, c.name).toBeUndefined();
      expect(c.resources.requests.cpu, c.name).toBeDefined();
      expect(c.resources.requests.memory, c.name).toBeDefined();
      expect(c.resources.limits.memory, c.name).toBeDefined();
    }
    // attache's user is the image's numeric USER (docker/Dockerfile), and owns the secret files' group.
    expect(view.sidecar.securityContext.runAsUser).toBe(1000);
    expect(pod.securityContext.fsGroup).toBe(view.sidecar.securityContext.runAsGroup);
    // A writable /tmp, as the only writable place.
    expect(volume(mountsOf(view.sidecar, "tmp")[0]?.name ?? "").emptyDir).toBeDefined();
    expect(mountsOf(view.sidecar, "tmp")[0]?.mountPath).toBe("/tmp");
  });

  it("mounts one /etc/attache folder from the root ConfigMap and two team ConfigMaps, without subPath", () => {
    const config = volume("attache-config");
    const sources = config.projected.sources.map((s: Doc) => [s.configMap.name, s.configMap.items.map((i: Doc) => i.path)]);
    expect(sources).toEqual([
      ["attache-root", ["attache.yaml"]],
      ["attache-routes-platform", ["routes.d/platform.yaml"]],
      ["attache-routes-shop", ["routes.d/shop.yaml"]],
    ]);
    for (const [name] of sources) expect(find(manifests, "ConfigMap", name)).toBeDefined();
    expect(mountsOf(view.sidecar, "attache-config")).toEqual([{ name: "attache-config", mountPath: "/etc/attache", readOnly: true }]);
    for (const c of containersOf(view.pod))
      for (const m of c.volumeMounts ?? []) expect(m.subPath ?? m.subPathExpr, `${c.name}: ${m.name}`).toBeUndefined();
  });

  it("gives only attache a short-lived projected service-account token with the cluster CA", () => {
    const { pod, sidecar, app } = view;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(find(manifests, "ServiceAccount", pod.serviceAccountName).automountServiceAccountToken).toBe(false);
    const token = volume("kube-api-access").projected;
    const sat = token.sources.find((s: Doc) => s.serviceAccountToken).serviceAccountToken;
    expect(sat.expirationSeconds).toBeGreaterThanOrEqual(600); // the API server's minimum
    expect(sat.expirationSeconds).toBeLessThanOrEqual(3600);
    expect(sat.audience).toBeUndefined(); // the API server's own audience
    expect(token.sources.find((s: Doc) => s.configMap)?.configMap.name).toBe("kube-root-ca.crt");
    expect(token.defaultMode).toBe(0o440);
    expect(mountsOf(sidecar, "kube-api-access")).toHaveLength(1);
    expect(mountsOf(app, "kube-api-access")).toHaveLength(0);
  });

  it("mounts the Redis password Secret as a file for attache only", () => {
    const secretVolume = volume("redis-auth").secret;
    const secret = find(manifests, "Secret", secretVolume.secretName);
    expect(Object.keys({ ...secret.data, ...secret.stringData })).toContain("password");
    expect(secretVolume.defaultMode).toBe(0o440);
    expect(mountsOf(view.sidecar, "redis-auth")[0]?.readOnly).toBe(true);
    expect(mountsOf(view.app, "redis-auth")).toHaveLength(0);
    // Not through the environment either.
    for (const c of containersOf(view.pod))
      for (const e of c.env ?? []) expect(e.valueFrom?.secretKeyRef, `${c.name}: ${e.name}`).toBeUndefined();
  });

  it("runs the seed scenario: curl calls the API server through localhost:8001/k8s", () => {
    const { app } = view;
    expect(app.image).toMatch(/^curlimages\/curl:\d+\.\d+\.\d+$/);
    const script = [...(app.command ?? []), ...(app.args ?? [])].join("\n");
    expect(script).toContain("http://localhost:8001/k8s/api/v1/namespaces/$POD_NAMESPACE/pods");
    expect(script).toContain("http://localhost:8001/orders/");
    expect(script).toContain("http://localhost:8001/cache/");
    expect(app.env).toContainEqual({ name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } });
    // A shell as PID 1 must trap SIGTERM, or the pod waits out its whole grace period.
    expect(script).toMatch(/trap .* TERM/);
  });

  it("shuts down cleanly: a grace period above attache's drain", () => {
    expect(view.pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
  });

  it("keeps every pod in the example within the restricted Pod Security Standard", () => {
    const pods = manifests.filter((m) => m.doc.kind === "Deployment").map((m) => m.doc.spec.template.spec);
    expect(pods.length).toBeGreaterThanOrEqual(3);
    for (const pod of pods) {
      expect(pod.hostNetwork ?? false).toBe(false);
      expect(pod.hostPID ?? false).toBe(false);
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.seccompProfile.type).toBe("RuntimeDefault");
      for (const v of pod.volumes ?? [])
        expect(Object.keys(v).filter((k) => k !== "name")[0]).toMatch(/^(configMap|secret|projected|emptyDir|downwardAPI)$/);
      for (const c of containersOf(pod)) {
        expect(c.securityContext.allowPrivilegeEscalation, c.name).toBe(false);
        expect(c.securityContext.capabilities.drop, c.name).toEqual(["ALL"]);
      }
    }
    expect(find(manifests, "Namespace", view.deployment.metadata.namespace).metadata.labels["pod-security.kubernetes.io/enforce"]).toBe(
      "restricted",
    );
  });

  it("admits other pods only to the admin port", () => {
    const policy = manifests.find(
      (m) => m.doc.kind === "NetworkPolicy" && m.doc.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === "attache-demo",
    )!.doc;
    expect(policy.spec.policyTypes).toContain("Ingress");
    const ports = policy.spec.ingress.flatMap((rule: Doc) => rule.ports.map((p: Doc) => p.port));
    expect(ports).toEqual([9901]);
  });
});
