/** Reading kubeconfig files as kubectl does (merged, first wins), through @kubernetes/client-node, loaded lazily. */
import { readFileSync } from "node:fs";
import type { AgentOptions } from "node:https";
import { delimiter, dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { KubeConfig } from "@kubernetes/client-node";
import type { AuthPlan, Plan } from "./credential-plan.js";

/** `files`: the certificate files it names, watched too (client certificates get renewed). */
export async function fromKubeconfig(
  files: string[],
  context: string | undefined,
): Promise<{ base: Omit<Plan, "fingerprint" | "overrides">; files: string[] } | { problem: string }> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const merged = {
    clusters: [] as KubeConfig["clusters"],
    users: [] as KubeConfig["users"],
    contexts: [] as KubeConfig["contexts"],
    currentContext: "",
  };
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      return { problem: `cannot load kubeconfig ${file}: ${(err as Error).message}` };
    }
    // Merged as kubectl does: for a name set in several files, the first file wins.
    for (const c of one.clusters ?? []) if (!merged.clusters.some((m) => m.name === c.name)) merged.clusters.push(c);
    for (const u of one.users ?? []) if (!merged.users.some((m) => m.name === u.name)) merged.users.push(u);
    for (const c of one.contexts ?? []) if (!merged.contexts.some((m) => m.name === c.name)) merged.contexts.push(c);
    merged.currentContext ||= one.currentContext ?? "";
  }
  const kc = new KubeConfig();
  kc.loadFromOptions(merged);
  const name = context ?? merged.currentContext;
  if (!name) return { problem: `kubeconfig ${files.join(delimiter)} sets no current-context (set \`context\` on the route)` };
  const ctx = kc.getContextObject(name);
  if (!ctx) return { problem: `context ${name} is not in kubeconfig ${files.join(delimiter)}` };
  kc.setCurrentContext(name);
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server)
    return { problem: `context ${name} names cluster ${ctx.cluster}, which kubeconfig ${files.join(delimiter)} does not define` };
  const user = kc.getCurrentUser();

  const ca = material(cluster.caFile, cluster.caData);
  const cert = material(user?.certFile, user?.certData);
  const key = material(user?.keyFile, user?.keyData);
  const tls: AgentOptions = {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
    ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}),
  };

  let auth: AuthPlan = cert ? { kind: "client-certificate" } : { kind: "none" };
  let secret: Plan["secret"];
  const tokenFile = user && rawTokenFile(files, user.name);
  if (tokenFile) auth = { kind: "token-file", path: tokenFile };
  else if (user?.token) {
    auth = { kind: "token" };
    secret = { token: user.token };
  } else if (user?.exec || user?.authProvider) {
    auth = { kind: "plugin", plugin: user.exec ? "exec" : "auth-provider" };
    secret = { kubeconfig: kc };
  } else if (user?.username) {
    auth = { kind: "basic" };
    secret = { username: user.username, password: user.password ?? "" };
  }
  return {
    base: { source: "kubeconfig", server: cluster.server, tls, auth, secret, context: name, kubeconfig: files, namespace: ctx.namespace },
    files: [cluster.caFile, user?.certFile, user?.keyFile].filter((f): f is string => typeof f === "string"),
  };
}

/** client-node reads a user's `token-file` once; we want its path, to watch it (kubectl resolves it next to the file). */
function rawTokenFile(files: string[], userName: string): string | undefined {
  for (const file of files) {
    try {
      const doc = parseYaml(readFileSync(file, "utf8")) as { users?: Array<{ name?: string; user?: Record<string, unknown> }> } | null;
      const entry = doc?.users?.find((u) => u?.name === userName);
      if (!entry) continue;
      const path = entry.user?.["token-file"];
      return typeof path === "string" && path ? (isAbsolute(path) ? path : resolve(dirname(file), path)) : undefined;
    } catch {}
  }
  return undefined;
}

function material(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return readFileSync(file);
  if (data) return Buffer.from(data, "base64");
  return undefined;
}
