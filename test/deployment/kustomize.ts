/** Rendering a kustomization under examples/kubernetes with kustomize itself (`kubectl kustomize`). */
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { hasKubectl, KUBECTL } from "../harness/fake-kube-api.js";
import { EXAMPLES, parseManifestText, type Manifest } from "./manifests.js";

export { hasKubectl };

/** The objects kustomize builds from `dir` (relative to examples/kubernetes, or absolute), parsed as kubectl reads YAML. */
export function kustomize(dir: string): Manifest[] {
  const full = isAbsolute(dir) ? dir : join(EXAMPLES, dir);
  // No kubeconfig and no cluster: kustomize only reads files.
  const out = execFileSync(KUBECTL, ["kustomize", full], {
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), KUBECONFIG: join(tmpdir(), "no-kubeconfig") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return parseManifestText(out, `kustomize ${dir}`);
}
