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
import type { OutgoingHttpHeaders } from "node:http";
import type { AgentOptions } from "node:https";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubernetesUpstreamConfig } from "../config/schema.js";
import { FileSecret } from "../config/secrets.js";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Where to look; defaults are the process's own. Tests point these at temp folders. */
export interface CredentialsEnvironment {
  env?: NodeJS.ProcessEnv | undefined;
  serviceAccountDir?: string | undefined;
  home?: string | undefined;
}

export type CredentialSource = "in-cluster" | "kubeconfig" | "explicit";

export type AuthPlan =
  | { kind: "token-file"; path: string }
  | { kind: "token" }
  | { kind: "basic" }
  | { kind: "plugin"; plugin: "exec" | "auth-provider" }
  | { kind: "client-certificate" }
  | { kind: "none" };

/** What resolution found. Plain data, except the kubeconfig handle plugins need; `openAuthorizer` makes it live. */
export interface Plan {
  source: CredentialSource;
  server: string;
  tls: AgentOptions;
  /** Server and TLS material: same fingerprint, same connection pool. Tokens are not part of it. */
  fingerprint: string;
  auth: AuthPlan;
  context?: string | undefined;
  kubeconfig?: string[] | undefined;
  namespace?: string | undefined;
  /** Route keys that replaced what in-cluster or the kubeconfig said. */
  overrides: string[];
  /** Inline secrets (kubeconfig token, basic password) and the plugin handle: kept out of describe(). */
  secret?:
    | { token?: string | undefined; username?: string | undefined; password?: string | undefined; kubeconfig?: KubeConfig | undefined }
    | undefined;
}

export interface Resolution {
  plan: Plan | undefined;
  /** The places looked at, for the start warning and the 502 Status. */
  lookedFor: string[];
  /** Why there is no plan. */
  problem?: string | undefined;
  /** Files whose appearance or change calls for resolving again. */
  watch: string[];
}

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

/** `files`: the certificate files it names, watched too (client certificates get renewed). */
async function fromKubeconfig(
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

// ---- authorizers: how one request gets its credentials ----

/** Puts the credentials on an outgoing request. The only holder of the token; describe() never shows it. */
export interface Authorizer {
  readonly kind: AuthPlan["kind"];
  /** Before each request: plugins (exec, auth-provider) refresh an expiring token here. */
  prepare?(): Promise<void>;
  apply(headers: OutgoingHttpHeaders): void;
  /** Re-read now (after a 401); true when the credentials changed and a retry is worth it. */
  refresh(): boolean;
  describe(): Record<string, unknown>;
  close(): void;
}

export function openAuthorizer(plan: Plan): Authorizer {
  const auth = plan.auth;
  switch (auth.kind) {
    case "token-file":
      return tokenFileAuthorizer(new FileSecret(auth.path));
    case "token": {
      const header = `Bearer ${plan.secret?.token ?? ""}`;
      return simple("token", (h) => (h.authorization = header), { token: "inline in the kubeconfig" });
    }
    case "basic": {
      const header = `Basic ${Buffer.from(`${plan.secret?.username ?? ""}:${plan.secret?.password ?? ""}`).toString("base64")}`;
      return simple("basic", (h) => (h.authorization = header), { basic: "username and password in the kubeconfig" });
    }
    case "plugin":
      return pluginAuthorizer(plan.secret!.kubeconfig!, auth.plugin);
    case "client-certificate":
      return simple("client-certificate", () => {}, {});
    case "none":
      return simple("none", () => {}, {});
  }
}

function tokenFileAuthorizer(secret: FileSecret): Authorizer {
  return {
    kind: "token-file",
    apply: (h) => {
      if (secret.value) h.authorization = `Bearer ${secret.value}`;
    },
    refresh: () => secret.reload(),
    describe: () => ({ tokenFile: secret.path, tokenReloadedAt: secret.changedAt.toISOString() }),
    close: () => secret.close(),
  };
}

function simple(kind: Authorizer["kind"], apply: (h: OutgoingHttpHeaders) => void, description: Record<string, unknown>): Authorizer {
  return { kind, apply, refresh: () => false, describe: () => description, close: () => {} };
}

/** How long a plugin's answer is used before client-node is asked again (it caches until expirationTimestamp). */
const PLUGIN_RECHECK_MS = 5_000;

/**
 * exec / auth-provider users: client-node's authenticators run the plugin and cache its token until it
 * expires. A credential without an expiry would make client-node run the plugin on every request, so
 * the answer is also kept here for a few seconds; a 401 drops it, so the next request asks again.
 * (Client certificates returned by an exec plugin are not used: the pool's TLS settings are fixed.)
 */
function pluginAuthorizer(kc: KubeConfig, plugin: "exec" | "auth-provider"): Authorizer {
  let header: string | undefined;
  let fetchedAt = 0;
  let pending: Promise<void> | undefined;
  const fetch = async () => {
    const opts: { headers?: Record<string, string> } = {};
    await kc.applyToHTTPSOptions(opts);
    const value = opts.headers?.Authorization ?? opts.headers?.authorization;
    header = typeof value === "string" ? value : undefined;
    fetchedAt = Date.now();
  };
  return {
    kind: "plugin",
    async prepare() {
      if (header !== undefined && Date.now() - fetchedAt < PLUGIN_RECHECK_MS) return;
      pending ??= fetch().finally(() => (pending = undefined));
      await pending;
    },
    apply: (h) => {
      if (header) h.authorization = header;
    },
    refresh: () => {
      fetchedAt = 0;
      return false;
    },
    describe: () => ({ plugin }),
    close: () => {},
  };
}
