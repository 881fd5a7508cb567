/**
 * Where a connection to the Kubernetes API comes from, for kubernetes routes and EndpointSlice discovery
 * alike, in kubectl's order:
 *
 * - explicit: `server` set and neither `kubeconfig` nor `context`: exactly what is written (`tokenFile`,
 *   `caFile` optional), nothing else looked up: a pod's token never goes to a server it was not meant for.
 * - in-cluster: $KUBERNETES_SERVICE_HOST/PORT and the service-account volume's token (re-read: bound
 *   tokens rotate) and ca.crt; skipped when the route names a `kubeconfig` or `context`.
 * - kubeconfig: the route's `kubeconfig`, else every file in $KUBECONFIG (merged, first wins, missing ones
 *   skipped, as kubectl), else ~/.kube/config; the route's `context`, else current-context. Parsed by
 *   @kubernetes/client-node (loaded lazily: in a pod it is never needed); tokens, token files, client
 *   certificates, basic auth, and exec / auth-provider plugins through client-node's authenticators.
 *   `server`, `tokenFile`, `caFile` on the route override the kubeconfig's (and in-cluster) values.
 *
 * Finding nothing is an answer, not an error: the caller keeps looking (upstreams/kubernetes/kubernetes-upstream.ts,
 * discovery/kubernetes-endpointslices.ts).
 * Tokens stay inside the Authorizer; nothing here logs or describes them.
 */
import { createHash } from "node:crypto";
import { accessSync, constants, readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import type { KubernetesUpstreamConfig } from "../config/schema.js";
import type { CredentialsEnvironment, Plan, Resolution } from "./credential-plan.js";
import { fromKubeconfig } from "./kubeconfig.js";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export async function resolveCredentials(config: KubernetesUpstreamConfig, where: CredentialsEnvironment = {}): Promise<Resolution> {
  const env = where.env ?? process.env;
  const lookedFor: string[] = [];
  const watch: string[] = [];
  try {
    if (config.server && config.kubeconfig === undefined && config.context === undefined) {
      lookedFor.push(`explicit server ${config.server}`);
      if (config.caFile) watch.push(config.caFile);
      const plan = finish({
        source: "explicit",
        server: config.server,
        tls: config.caFile ? { ca: readFileSync(config.caFile) } : {},
        auth: config.tokenFile ? { kind: "token-file", path: config.tokenFile } : { kind: "none" },
        overrides: [],
      });
      return { plan, lookedFor, watch };
    }

    let base: Omit<Plan, "fingerprint" | "overrides"> | undefined;
    let problem: string | undefined;
    if (config.kubeconfig === undefined && config.context === undefined) {
      const dir = where.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
      const host = env.KUBERNETES_SERVICE_HOST;
      const port = env.KUBERNETES_SERVICE_PORT;
      const tokenPath = join(dir, "token");
      const caPath = join(dir, "ca.crt");
      lookedFor.push(`in-cluster service account ($KUBERNETES_SERVICE_HOST and _PORT ${host && port ? "set" : "unset"}, ${tokenPath})`);
      watch.push(tokenPath, caPath);
      if (host && port && readable(tokenPath)) {
        base = {
          source: "in-cluster",
          server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
          tls: readable(caPath) ? { ca: readFileSync(caPath) } : {},
          auth: { kind: "token-file", path: tokenPath },
          namespace: readOptional(join(dir, "namespace")),
        };
      }
    }
    if (!base) {
      const home = where.home ?? env.HOME ?? homedir();
      const files = config.kubeconfig
        ? [config.kubeconfig]
        : env.KUBECONFIG
          ? env.KUBECONFIG.split(delimiter)
              .filter(Boolean)
              .map((f) => resolve(f))
          : [join(home, ".kube", "config")];
      const why = config.kubeconfig ? "" : env.KUBECONFIG ? " ($KUBECONFIG)" : "";
      lookedFor.push(`kubeconfig ${files.join(delimiter)}${why}${config.context ? ` context ${config.context}` : ""}`);
      watch.push(...files);
      const present = files.filter(readable);
      if (present.length > 0) {
        const loaded = await fromKubeconfig(present, config.context);
        if ("problem" in loaded) problem = loaded.problem;
        else {
          base = loaded.base;
          watch.push(...loaded.files);
        }
      }
    }
    if (!base) return { plan: undefined, lookedFor, problem: problem ?? "none of these exist", watch };

    const overrides: string[] = [];
    if (config.server) {
      base.server = config.server;
      overrides.push("server");
    }
    if (config.caFile) {
      base.tls = { ...base.tls, ca: readFileSync(config.caFile) };
      watch.push(config.caFile);
      overrides.push("caFile");
    }
    if (config.tokenFile) {
      base.auth = { kind: "token-file", path: config.tokenFile };
      overrides.push("tokenFile");
    }
    return { plan: finish({ ...base, overrides }), lookedFor, watch };
  } catch (err) {
    return { plan: undefined, lookedFor, problem: (err as Error).message, watch };
  }
}

function finish(plan: Omit<Plan, "fingerprint">): Plan {
  const hash = createHash("sha256");
  hash.update(plan.server);
  for (const key of ["ca", "cert", "key", "servername", "rejectUnauthorized"] as const)
    hash.update(`\0${key}=${String(plan.tls[key] ?? "")}`);
  return { ...plan, fingerprint: hash.digest("hex").slice(0, 16) };
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
