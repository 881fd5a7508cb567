/**
 * What the kubelet would give the attache container, written to a folder: the volumes it mounts
 * (ConfigMaps, Secrets, projected token, downward API), laid out the way the kubelet writes them
 * (a timestamped folder, a `..data` symlink to it, one symlink per top-level entry), and its
 * environment. Lets the tests run `attache validate` on exactly what the pod would load.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { find, type Doc, type Manifest } from "./manifests.js";

export const DEPLOYMENT = "attache-demo";
export const SIDECAR = "attache";

/** ConfigMaps every namespace has, published by the cluster (kube-root-ca.crt, since 1.21). */
const CLUSTER_CONFIGMAPS: Record<string, Record<string, string>> = {
  "kube-root-ca.crt": { "ca.crt": "-----BEGIN CERTIFICATE-----\nplaceholder cluster CA\n-----END CERTIFICATE-----\n" },
};

export interface PodView {
  deployment: Doc;
  pod: Doc;
  sidecar: Doc;
  app: Doc;
}

/** The attache sidecar and the app container of a Deployment (the demo's by default). */
export function podView(manifests: readonly Manifest[], name = DEPLOYMENT, appName = "app"): PodView {
  const deployment = find(manifests, "Deployment", name);
  const pod = deployment.spec.template.spec;
  const sidecar = (pod.initContainers ?? []).find((c: Doc) => c.name === SIDECAR);
  if (!sidecar) throw new Error(`no init container ${SIDECAR} in Deployment ${name}`);
  const app = (pod.containers ?? []).find((c: Doc) => c.name === appName);
  if (!app) throw new Error(`no container ${appName} in Deployment ${name}`);
  return { deployment, pod, sidecar, app };
}

/** The files one volume holds, by path inside the volume. */
export function volumeFiles(volume: Doc, manifests: readonly Manifest[], namespace: string): Map<string, string> {
  const files = new Map<string, string>();
  const configMapData = (name: string, optional: boolean): Record<string, string> | undefined => {
    const found = manifests.find((m) => m.doc.kind === "ConfigMap" && m.doc.metadata.name === name);
    if (found) return found.doc.data ?? {};
    if (CLUSTER_CONFIGMAPS[name]) return CLUSTER_CONFIGMAPS[name];
    if (optional) return undefined;
    throw new Error(`volume ${volume.name}: ConfigMap ${name} is not among the manifests`);
  };
  const secretData = (name: string, optional: boolean): Record<string, string> | undefined => {
    const found = manifests.find((m) => m.doc.kind === "Secret" && m.doc.metadata.name === name);
    if (!found) {
      if (optional) return undefined;
      throw new Error(`volume ${volume.name}: Secret ${name} is not among the manifests`);
    }
    const decoded = Object.fromEntries(
      Object.entries(found.doc.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), "base64").toString()]),
    );
    return { ...decoded, ...found.doc.stringData };
  };
  const project = (data: Record<string, string> | undefined, items: Doc[] | undefined, what: string) => {
    if (!data) return;
    if (!items) for (const [key, value] of Object.entries(data)) files.set(key, value);
    else
      for (const item of items) {
        if (!(item.key in data)) throw new Error(`volume ${volume.name}: ${what} has no key ${item.key}`);
        files.set(item.path, data[item.key]!);
      }
  };
  const fieldValue = (fieldPath: string) => (fieldPath === "metadata.namespace" ? namespace : `placeholder-${fieldPath}`);

  if (volume.configMap)
    project(
      configMapData(volume.configMap.name, !!volume.configMap.optional),
      volume.configMap.items,
      `ConfigMap ${volume.configMap.name}`,
    );
  else if (volume.secret)
    project(secretData(volume.secret.secretName, !!volume.secret.optional), volume.secret.items, `Secret ${volume.secret.secretName}`);
  else if (volume.projected) {
    for (const source of volume.projected.sources ?? []) {
      if (source.configMap)
        project(
          configMapData(source.configMap.name, !!source.configMap.optional),
          source.configMap.items,
          `ConfigMap ${source.configMap.name}`,
        );
      else if (source.secret)
        project(secretData(source.secret.name, !!source.secret.optional), source.secret.items, `Secret ${source.secret.name}`);
      else if (source.serviceAccountToken) files.set(source.serviceAccountToken.path, "placeholder.service-account.token");
      else if (source.downwardAPI)
        for (const item of source.downwardAPI.items ?? []) files.set(item.path, fieldValue(item.fieldRef?.fieldPath ?? ""));
      else throw new Error(`volume ${volume.name}: projected source ${Object.keys(source).join(",")} not handled`);
    }
  } else if (volume.downwardAPI) {
    for (const item of volume.downwardAPI.items ?? []) files.set(item.path, fieldValue(item.fieldRef?.fieldPath ?? ""));
  } else if (!volume.emptyDir) throw new Error(`volume ${volume.name}: kind ${Object.keys(volume).join(",")} not handled`);
  return files;
}

/** Writes a volume as the kubelet's AtomicWriter does: ..TIMESTAMP/, ..data → it, top-level symlinks into ..data. */
export function writeVolume(dir: string, files: Map<string, string>): void {
  mkdirSync(dir, { recursive: true });
  if (files.size === 0) return;
  const stamp = "..2026_01_01_00_00_00.000000001";
  const top = new Set<string>();
  for (const [path, content] of files) {
    if (posix.isAbsolute(path) || path.split("/").includes("..")) throw new Error(`volume path ${path} escapes the volume`);
    const full = join(dir, stamp, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
    top.add(path.split("/")[0]!);
  }
  symlinkSync(stamp, join(dir, "..data"));
  for (const entry of top) symlinkSync(join("..data", entry), join(dir, entry));
}

/**
 * Writes every volume the attache container mounts under `root` + mountPath and returns the
 * container's environment (downward API values filled in). Absolute paths in the files that start
 * with one of the container's mount paths are rebased under `root`, so `tokenFile:
 * /var/run/secrets/...` finds the file only if a mount of the container really provides it.
 */
export function materializeSidecar(
  manifests: readonly Manifest[],
  root: string,
  view = podView(manifests),
): { env: Record<string, string>; mountPaths: string[] } {
  const { deployment, pod, sidecar } = view;
  const namespace = deployment.metadata.namespace;
  const mounts: Array<{ mountPath: string; volume: Doc }> = (sidecar.volumeMounts ?? []).map((mount: Doc) => {
    const volume = (pod.volumes ?? []).find((v: Doc) => v.name === mount.name);
    if (!volume) throw new Error(`volumeMount ${mount.name} has no volume`);
    return { mountPath: mount.mountPath, volume };
  });
  const mountPaths = mounts.map((m) => m.mountPath);
  for (const { mountPath, volume } of mounts) {
    const files = volumeFiles(volume, manifests, namespace);
    for (const [path, content] of files) files.set(path, rebase(content, root, mountPaths));
    writeVolume(join(root, mountPath), files);
  }
  const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
  for (const e of sidecar.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[e.name] = namespace;
    else env[e.name] = `placeholder-${e.name}`;
  }
  return { env, mountPaths };
}

/** `/mount/path/...` → `ROOT/mount/path/...`, in one pass, only where a path starts. */
export function rebase(text: string, root: string, mountPaths: readonly string[]): string {
  if (mountPaths.length === 0) return text;
  const alternatives = [...mountPaths].sort((a, b) => b.length - a.length).map((m) => m.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
  return text.replace(new RegExp(`(?<=^|[\\s"':=\\[,])(?:${alternatives.join("|")})(?=/)`, "gm"), (m) => `${root}${m}`);
}
