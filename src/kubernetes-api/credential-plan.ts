/** What a look for Kubernetes API credentials finds (credentials.ts), as plain data. */
import type { AgentOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

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
