/** How one request to the Kubernetes API gets its credentials: an Authorizer made from a Plan (credential-plan.ts). */
import type { OutgoingHttpHeaders } from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import { FileSecret } from "../config/secrets.js";
import type { AuthPlan, Plan } from "./credential-plan.js";

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
  // The header is made again only when the file's value changes (rotation), not per request.
  let token = "";
  let header = "";
  return {
    kind: "token-file",
    apply: (h) => {
      const value = secret.value;
      if (!value) return;
      if (value !== token) {
        token = value;
        header = `Bearer ${value}`;
      }
      h.authorization = header;
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
