/** The kubernetes upstream kind: the API server, with credentials found and rotated (kubernetes-api/). */
import { loaded, type UpstreamKind } from "../upstream-kind.js";

/** Credentials, Status errors and raw upgrades (node:https, node:crypto) are loaded only for configs with a kubernetes route. */
let kubernetesModule: typeof import("./kubernetes-upstream.js") | undefined;

export const kubernetesKind: UpstreamKind = {
  async load() {
    kubernetesModule ??= await import("./kubernetes-upstream.js");
  },
  create: (route) => loaded(kubernetesModule, route).createKubernetesUpstream(route),
  summary(route) {
    const kubernetes = route.upstream.kubernetes!;
    return `kubernetes ${kubernetes.server ?? (kubernetes.kubeconfig || kubernetes.context ? "kubeconfig" : "in-cluster")}`;
  },
};
