/** One connection of a kubernetes route to its API server: the HttpUpstream for one credential plan, and its authorizer. */
import type { OutgoingHttpHeaders } from "node:http";
import { DEFAULTS } from "../../config/defaults.js";
import type { ResolvedRoute } from "../../config/validate.js";
import { StaticSource } from "../../discovery/static.js";
import type { Authorizer } from "../../kubernetes-api/authorizer.js";
import type { Plan } from "../../kubernetes-api/credential-plan.js";
import { InflightCounter } from "../../resilience/inflight.js";
import { HttpUpstream } from "../http/http-upstream.js";
import { isRelayedStatus } from "./relayed-status.js";
import { isList, isLongRunning } from "./request-kinds.js";

export interface Connection {
  plan: Plan;
  inner: HttpUpstream;
  auth: Authorizer;
  /** Identity of the authorizer's inputs: an unchanged one is kept across re-resolutions. */
  authKey: string;
  /** Requests and upgrades under way on this connection. */
  requests: InflightCounter;
}

export function openConnection(route: ResolvedRoute, plan: Plan, auth: Authorizer, key: string): Connection {
  const connection = { plan, auth, authKey: key, requests: new InflightCounter() } as Connection;
  connection.inner = new HttpUpstream({
    route,
    source: new StaticSource([plan.server]),
    tls: plan.tls,
    authorize: (headers) => authorize(connection, headers),
    refreshCredentials: () => connection.auth.refresh(),
    isVerdict: isRelayedStatus,
    isStreaming: (ctx) =>
      ctx.route.config.streaming ?? (isLongRunning(ctx.path, ctx.query) || (ctx.req.method === "GET" && isList(ctx.path))),
    isLongRunning: (ctx) => isLongRunning(ctx.path, ctx.query),
    http2: {
      maxStreams: DEFAULTS.route.kubernetes.maxStreams,
      pingInterval: route.upstream.kubernetes!.pingInterval ?? DEFAULTS.route.kubernetes.pingInterval,
    },
  });
  return connection;
}

/** The client's own credentials never reach the API server, whatever ours are. */
export function authorize(connection: Connection, headers: OutgoingHttpHeaders): void {
  if (headers.authorization !== undefined) delete headers.authorization;
  connection.auth.apply(headers);
}

/** Identity of what the authorizer is made from: the same key keeps the same authorizer. */
export function authKey(plan: Plan): string {
  // Plugins hold a parsed kubeconfig: a new resolution means a new one.
  if (plan.auth.kind === "plugin") return `plugin:${Math.random()}`;
  return JSON.stringify([plan.auth, plan.secret?.token, plan.secret?.username, plan.secret?.password]);
}
