/** A live connection to the Kubernetes API (server, TLS, rotating credentials) from a route's connection keys. */
import type { OutgoingHttpHeaders } from "node:http";
import { Agent, type AgentOptions } from "node:https";
import type { KubernetesUpstreamConfig } from "../config/schema.js";
import { openAuthorizer } from "./authorizer.js";
import type { CredentialsEnvironment } from "./credential-plan.js";
import { resolveCredentials } from "./credentials.js";

/** How attache reaches the API server; built from the route's connection keys by credentials.ts. */
export interface KubeApiConnection {
  /** https://host:port, no trailing slash. */
  readonly server: string;
  /** CA / client certificate options for the API server's TLS. */
  readonly tls: AgentOptions;
  /** Namespace to use when the config names none (in-cluster: the pod's; kubeconfig: the context's). */
  readonly namespace: string | undefined;
  /** Sets the credentials on one API request (the current token: rotation applies). */
  authorize(headers: OutgoingHttpHeaders): Promise<void>;
  /** After a 401: re-read the credentials; true when they changed (one more try is worth it). */
  refresh?(): boolean;
  /** Credential-free: where the connection came from (in-cluster, kubeconfig, explicit). */
  describe?(): Record<string, unknown>;
  close?(): void;
}

/**
 * The route's connection keys → an API connection, through the same credential resolution as the
 * kubernetes upstream (explicit, in-cluster, kubeconfig: the same order and the same token rotation).
 */
export async function openKubeApiConnection(
  keys: KubernetesUpstreamConfig,
  where: CredentialsEnvironment = {},
): Promise<KubeApiConnection> {
  const { plan, problem, lookedFor } = await resolveCredentials(keys, where);
  if (!plan) throw new Error(`no kubernetes credentials (${problem ?? "none found"}; looked for ${lookedFor.join("; ")})`);
  const authorizer = openAuthorizer(plan);
  return {
    server: plan.server,
    tls: plan.tls,
    namespace: plan.namespace,
    authorize: async (headers) => {
      await authorizer.prepare?.();
      authorizer.apply(headers);
    },
    refresh: () => authorizer.refresh(),
    describe: () => ({ credentials: plan.source, ...(plan.context && { context: plan.context }), ...authorizer.describe() }),
    close: () => authorizer.close(),
  };
}

/** Keep-alive HTTPS sockets to the API server for a few long-lived requests (list, watch): two are enough. */
export function kubeApiAgent(connection: KubeApiConnection): Agent {
  return new Agent({ ...connection.tls, keepAlive: true, maxSockets: 2 });
}
