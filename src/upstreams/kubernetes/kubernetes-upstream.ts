/**
 * The Kubernetes API as an upstream, `kubectl proxy` done right: an HttpUpstream toward the API server
 * (HTTP/2 when offered, as client-go; the route's resilience stack), raw WebSocket/SPDY upgrades, plus
 * credentials that are found, watched and rotated (kubernetes-api/credentials.ts), a default deny (default-deny.ts),
 * the app's identity headers removed, watches, logs and lists under the route timeout only until their
 * headers, and Status errors (status-response.ts). A Status relayed from the API server is its verdict
 * on one request and never counts against the breaker (relayed-status.ts): one aggregated API or
 * webhook that fails does not cut the app off.
 *
 * No credentials is a state, not a crash: the route answers 502 upstream_unreachable with a Status naming what was looked
 * for, and a watch of their folders with a cheap periodic recheck (fs/watch-files.ts: stat of a handful
 * of files) brings it alive when a kubeconfig or token appears. The same watch notices a changed kubeconfig, CA or client certificate: a new server or TLS material
 * gets a new pool (the old one closes once its requests and watches are over); a new token does not.
 */
import type { Duplex } from "node:stream";
import { DEFAULTS } from "../../config/defaults.js";
import type { PathRuleConfig } from "../../config/schema.js";
import type { ResolvedRoute } from "../../config/validate.js";
import { endpointFromUrl } from "../../discovery/endpoint-source.js";
import { FileWatcher, foldersOf, statSignature } from "../../fs/watch-files.js";
import { AttacheError } from "../../errors.js";
import { log } from "../../observability/log.js";
import { RequestLease } from "../../resilience/inflight.js";
import { upstreamRequestHeaders } from "../../http/headers.js";
import type { Route } from "../../routing/route.js";
import type { RequestContext, Upstream } from "../upstream.js";
import { openAuthorizer, type Authorizer } from "../../kubernetes-api/authorizer.js";
import type { CredentialsEnvironment, Resolution } from "../../kubernetes-api/credential-plan.js";
import { resolveCredentials } from "../../kubernetes-api/credentials.js";
import { DEFAULT_DENY } from "./default-deny.js";
import { authKey, authorize, openConnection, type Connection } from "./api-server-connection.js";
import { explainError } from "./status-explanation.js";
import { renderStatus } from "./status-response.js";
import { proxyUpgrade } from "./upgrade-proxy.js";

/** How often the credential files are stat'ed without a watch event: a handful of stat calls, so often enough to feel immediate. */
const POLL_MS = 2_000;

export interface KubernetesUpstreamOptions extends CredentialsEnvironment {
  route: ResolvedRoute;
  /** @default 2000 ms */
  pollInterval?: number | undefined;
}

export class KubernetesUpstream implements Upstream {
  readonly kind = "kubernetes" as const;
  readonly defaultDeny: readonly PathRuleConfig[] = DEFAULT_DENY;
  readonly removeHeaders: readonly string[];
  private connection: Connection | undefined;
  /** Replaced connections still carrying requests or watches; each closes when its last one ends. */
  private readonly retired = new Set<Connection>();
  /** Why the last look found nothing (with a connection: we keep using the last good one). */
  private missing: Pick<Resolution, "lookedFor" | "problem"> | undefined;
  private resolving: Promise<void> | undefined;
  private watched: string[] = [];
  private signature = "";
  private readonly watcher: FileWatcher;
  private readonly pollInterval: number;
  private closed = false;

  constructor(private readonly options: KubernetesUpstreamOptions) {
    this.pollInterval = options.pollInterval ?? POLL_MS;
    this.removeHeaders = options.route.upstream.kubernetes!.identityHeaders === "pass" ? [] : DEFAULTS.route.kubernetes.identityHeaders;
    this.watcher = new FileWatcher(() => this.poll(), { recheckMs: this.pollInterval });
    this.resolving = this.resolve(true).finally(() => (this.resolving = undefined));
  }

  private get name(): string {
    return this.options.route.name;
  }

  /** Resolves once the current look for credentials is over. */
  async ready(): Promise<void> {
    await this.resolving;
  }

  handle(ctx: RequestContext): Promise<void> {
    // Credentials in hand and nothing to refresh (a token file, a static token): no awaits of our own.
    const ready = this.resolving ? undefined : this.connection;
    if (ready && !ready.auth.prepare) {
      new RequestLease(ready.requests).releaseOnClose(ctx.res);
      return ready.inner.handle(ctx);
    }
    return this.handleWhenReady(ctx);
  }

  private async handleWhenReady(ctx: RequestContext): Promise<void> {
    const connection = await this.current();
    new RequestLease(connection.requests).releaseOnClose(ctx.res);
    await this.prepare(connection);
    return connection.inner.handle(ctx);
  }

  /** WebSocket and SPDY alike (exec, attach, portforward once a route lifts the deny): see upgrade-proxy.ts. */
  async upgrade(ctx: RequestContext, socket: Duplex, head: Buffer): Promise<void> {
    const connection = await this.current();
    new RequestLease(connection.requests).releaseOnClose(socket);
    await this.prepare(connection);
    const { plan } = connection;
    const endpoint = endpointFromUrl(plan.server);
    const headers = upstreamRequestHeaders(ctx.req, ctx.route as Route, ctx.requestId, true);
    authorize(connection, headers);
    ctx.upstreamTarget = endpoint.id;
    const route = this.options.route;
    await proxyUpgrade(ctx.req, socket, head, {
      endpoint,
      tls: plan.tls,
      headers,
      path: endpoint.basePath + ctx.path + ctx.query,
      timeout: route.timeout,
      connectTimeout: route.pool.connectTimeout,
    });
  }

  renderError(err: AttacheError): { contentType: string; body: string } {
    return renderStatus(err, explainError(err, this.name, this.connection?.plan));
  }

  /** No listener of its own: ready at once. The credential look-up (`ready()`) goes on in the background. */
  readiness(): Promise<void> {
    return Promise.resolve();
  }

  describe(): Record<string, unknown> {
    const c = this.connection;
    const base = {
      server: c?.plan.server ?? null,
      credentials: this.describeCredentials(),
      identityHeaders: this.removeHeaders.length ? "remove" : "pass",
    };
    return c ? { ...base, ...c.inner.describe() } : base;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher.close();
    await this.resolving?.catch(() => {});
    const c = this.connection;
    this.connection = undefined;
    if (c) {
      c.auth.close();
      await c.inner.close();
    }
    await Promise.all([...this.retired].map((r) => this.dispose(r)));
  }

  // ---- credentials lifecycle ----

  private async current(): Promise<Connection> {
    if (this.resolving) await this.resolving;
    if (this.connection) return this.connection;
    const missing = this.missing ?? { lookedFor: [], problem: "not looked yet" };
    // The error table (src/errors.ts) has no code of its own for this: no credentials means no reachable API server.
    throw new AttacheError(
      "upstream_unreachable",
      `route ${this.name}: no Kubernetes credentials found (looked for ${missing.lookedFor.join("; ")}: ${missing.problem}); ` +
        `attache keeps looking and starts forwarding when they appear`,
      { route: this.name, retryAfter: Math.max(1, Math.ceil(this.pollInterval / 1000)) },
    );
  }

  private async prepare(connection: Connection): Promise<void> {
    if (!connection.auth.prepare) return;
    try {
      await connection.auth.prepare();
    } catch (err) {
      throw new AttacheError(
        "upstream_unreachable",
        `route ${this.name}: the kubeconfig's credential plugin failed: ${(err as Error).message}`,
        { route: this.name, cause: err },
      );
    }
  }

  private poll(): void {
    if (this.resolving || this.closed) return;
    if (statSignature(this.watched) === this.signature) return;
    this.resolving = this.resolve(false).finally(() => (this.resolving = undefined));
  }

  private async resolve(initial: boolean): Promise<void> {
    const previous = this.watched;
    const before = statSignature(previous);
    const result = await resolveCredentials(this.options.route.upstream.kubernetes!, this.options);
    if (this.closed) return;
    // A change that lands while we read is seen by the next poll: keep the signature from before the read.
    this.watched = result.watch;
    this.watcher.watch(foldersOf(result.watch));
    this.signature = sameList(previous, result.watch) ? before : statSignature(result.watch);
    if (!result.plan) return this.notFound(result, initial);
    const plan = result.plan;
    const old = this.connection;
    const key = authKey(plan);
    let auth: Authorizer;
    try {
      auth = old && old.authKey === key ? old.auth : openAuthorizer(plan);
    } catch (err) {
      return this.notFound({ ...result, problem: (err as Error).message }, initial);
    }
    const wasMissing = this.missing !== undefined;
    this.missing = undefined;
    const summary = { route: this.name, server: plan.server, source: plan.source, context: plan.context, auth: plan.auth.kind };
    if (old && old.plan.fingerprint === plan.fingerprint) {
      if (auth !== old.auth) {
        old.auth.close();
        old.auth = auth;
        old.authKey = key;
        log.info(summary, "kubernetes route: credentials changed; new ones in use");
      } else if (wasMissing) log.info(summary, "kubernetes route: credentials found again");
      old.plan = plan;
      return;
    }
    const connection = openConnection(this.options.route, plan, auth, key);
    this.connection = connection;
    if (old) {
      if (old.auth !== auth) old.auth.close();
      this.retired.add(old);
      void old.requests.whenIdle().then(() => this.dispose(old));
    }
    log.info(
      summary,
      initial
        ? "kubernetes route: credentials loaded"
        : old
          ? "kubernetes route: API server or TLS settings changed; new connections use them"
          : "kubernetes route: credentials found; forwarding",
    );
  }

  private notFound(result: Resolution, initial: boolean): void {
    const again =
      this.missing !== undefined && this.missing.problem === result.problem && sameList(this.missing.lookedFor, result.lookedFor);
    this.missing = { lookedFor: result.lookedFor, problem: result.problem };
    if (again && !initial) return;
    if (this.connection)
      log.warn({ route: this.name, problem: result.problem }, "kubernetes route: credentials no longer found; keeping the last good ones");
    else
      log.warn(
        { route: this.name, lookedFor: result.lookedFor, problem: result.problem },
        "kubernetes route: no credentials found; answering 502 until they appear",
      );
  }

  private async dispose(connection: Connection): Promise<void> {
    if (!this.retired.delete(connection)) return;
    if (connection.auth !== this.connection?.auth) connection.auth.close();
    await connection.inner.close();
  }

  // ---- descriptions ----

  private describeCredentials(): Record<string, unknown> {
    const c = this.connection;
    if (!c) {
      if (this.resolving && !this.missing) return { state: "resolving" };
      return { state: "missing", lookedFor: this.missing?.lookedFor ?? [], problem: this.missing?.problem };
    }
    const p = c.plan;
    return {
      state: "ready",
      source: p.source,
      ...(p.context ? { context: p.context } : {}),
      ...(p.kubeconfig ? { kubeconfig: p.kubeconfig } : {}),
      ...(p.namespace ? { namespace: p.namespace } : {}),
      ...(p.overrides.length ? { overrides: p.overrides } : {}),
      auth: c.auth.kind,
      ...c.auth.describe(),
      clientCertificate: p.tls.cert !== undefined,
      verifyServer: p.tls.rejectUnauthorized !== false,
      ...(this.missing ? { lastProblem: this.missing.problem } : {}),
    };
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function createKubernetesUpstream(route: ResolvedRoute): Upstream {
  return new KubernetesUpstream({ route });
}
