/**
 * Kubernetes discovery: list and watch the `discovery.k8s.io/v1` EndpointSlices of one Service
 * (label `kubernetes.io/service-name`), as kube-proxy and client-go informers do.
 *
 * - Only endpoints whose `conditions.ready` is not false are used (the API says nil means ready);
 *   a terminating pod turns not-ready first, so it leaves the set before it stops serving.
 * - `port` is a port name (resolved per slice: the same name may map to different numbers while a
 *   rollout changes the container port) or a number (used as is).
 * - Watches resume from the last resourceVersion seen (bookmarks included); `410 Gone` (as a
 *   response or as an ERROR event) means that version is compacted away: relist, then watch again.
 * - A failed list or watch keeps the last good set, is logged, counted in
 *   `attache_upstream_errors_total{reason="discovery_failed"}` and shown by describe().
 *
 * Minimal RBAC: list and watch on `endpointslices` (apiGroup discovery.k8s.io) in the namespace, nothing
 * else (no get: single slices are never fetched).
 */
import { EventEmitter } from "node:events";
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest, type Agent } from "node:https";
import { kubeApiAgent, type KubeApiConnection } from "../kubernetes-api/connection.js";
import { log } from "../observability/log.js";
import { metrics } from "../observability/metrics.js";
import { reconnectDelay } from "../resilience/backoff.js";
import type { Endpoint, EndpointSource } from "./endpoint-source.js";
import { EndpointSet, endpointForAddress } from "./endpoint-set.js";

export interface KubernetesEndpointSliceOptions {
  route: string;
  service: string;
  namespace?: string;
  port: string | number;
  protocol?: Endpoint["protocol"];
  /**
   * Built at the first request and again after a failure to build or a 401 that re-reading did not fix:
   * credentials may appear later (a kubeconfig written after start), and that wait belongs in describe().
   */
  connect: () => Promise<KubeApiConnection>;
  /** Server-side watch timeout in seconds; default: random in KUBE_WATCH_TIMEOUT_SECONDS. */
  watchTimeoutSeconds?: number;
}

/**
 * Back-off between failed list/watch attempts (resilience/backoff.ts: the ceiling doubles per failure, jittered).
 * @default 250 ms → 30 s — the first retry is quick (an API server restart or a dropped connection),
 * and a long outage costs the API server one request per 30 s per route.
 */
export const KUBE_RETRY_MIN = 250;
export const KUBE_RETRY_MAX = 30_000;
/**
 * Server-side watch timeout (`timeoutSeconds`), spread like client-go's (5–10 min) so that many
 * sidecars restarted together do not re-watch in step. The client gives up on a silent watch
 * `KUBE_WATCH_IDLE_SLACK` after that.
 */
export const KUBE_WATCH_TIMEOUT_SECONDS = [300, 600] as const;
export const KUBE_WATCH_IDLE_SLACK = 30_000;
/** A list must answer within this. */
export const KUBE_LIST_TIMEOUT = 10_000;

interface EndpointSliceJson {
  metadata?: { name?: string; resourceVersion?: string };
  addressType?: string;
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean | null } }> | null;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string }> | null;
}

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: EndpointSliceJson & { code?: number; message?: string; reason?: string };
}

class GoneError extends Error {
  readonly code = "EGONE";
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class KubernetesEndpointSliceSource extends EventEmitter implements EndpointSource {
  readonly kind = "kubernetes";
  private readonly set = new EndpointSet();
  private readonly slices = new Map<string, EndpointSliceJson>();
  private readonly protocol: Endpoint["protocol"];
  private connection: Promise<KubeApiConnection> | undefined;
  private connected: KubeApiConnection | undefined;
  private agent: Agent | undefined;
  private namespace: string;
  private resourceVersion: string | undefined;
  private started: Promise<void> | undefined;
  private closed = false;
  private current: { abort(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private state: "starting" | "listing" | "watching" | "backoff" | "closed" = "starting";
  private lastError: { message: string; at: Date } | undefined;
  private unresolvedPort: string[] = [];
  private counts = { lists: 0, watches: 0, relistsOnGone: 0, events: 0 };

  constructor(private readonly options: KubernetesEndpointSliceOptions) {
    super();
    this.protocol = options.protocol ?? "http:";
    this.namespace = options.namespace ?? "default";
  }

  /** Lists once, then keeps a watch open; resolves after the first list, whatever its outcome. */
  start(): Promise<void> {
    this.started ??= this.list().then(
      () => this.watch(),
      (err: unknown) => this.fail(err),
    );
    return this.started;
  }

  endpoints(): readonly Endpoint[] {
    return this.set.current;
  }

  describe(): Record<string, unknown> {
    const o = this.options;
    return {
      source: "kubernetes",
      service: o.service,
      namespace: this.namespace,
      port: o.port,
      endpoints: this.set.current.map((e) => e.id),
      lastChange: this.set.changedAt?.toISOString() ?? null,
      slices: this.slices.size,
      resourceVersion: this.resourceVersion ?? null,
      watch: this.state,
      ...(this.connected && { server: this.connected.server, ...this.connected.describe?.() }),
      ...this.counts,
      ...(this.unresolvedPort.length > 0 && { portNotFoundIn: this.unresolvedPort }),
      lastError: this.lastError ? { message: this.lastError.message, at: this.lastError.at.toISOString() } : null,
    };
  }

  close(): void {
    this.closed = true;
    this.state = "closed";
    if (this.timer) clearTimeout(this.timer);
    this.current?.abort();
    this.agent?.destroy();
    void this.connection?.then(
      (c) => c.close?.(),
      () => {},
    );
  }

  private path(extra: string): string {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${this.options.service}`);
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/endpointslices?labelSelector=${selector}${extra}`;
  }

  private connect(): Promise<KubeApiConnection> {
    this.connection ??= this.options.connect().then(
      (connection) => {
        this.namespace = this.options.namespace ?? connection.namespace ?? "default";
        this.connected = connection;
        this.agent?.destroy();
        this.agent = kubeApiAgent(connection);
        return connection;
      },
      (err: unknown) => {
        this.connection = undefined;
        throw err;
      },
    );
    return this.connection;
  }

  /** Forget the connection (after a 401 that re-reading did not fix): the next attempt resolves credentials again. */
  private reconnect(): void {
    const old = this.connection;
    this.connection = undefined;
    void old?.then(
      (c) => c.close?.(),
      () => {},
    );
  }

  private async list(): Promise<void> {
    if (this.closed) return;
    this.state = "listing";
    this.counts.lists++;
    const res = await this.request(this.path(""), KUBE_LIST_TIMEOUT);
    const body = JSON.parse(await readBody(res)) as { metadata?: { resourceVersion?: string }; items?: EndpointSliceJson[] };
    if (this.closed) return;
    this.slices.clear();
    for (const item of body.items ?? []) if (item.metadata?.name) this.slices.set(item.metadata.name, item);
    this.resourceVersion = body.metadata?.resourceVersion;
    this.failures = 0;
    this.lastError = undefined;
    this.recompute();
  }

  /** One watch request, streamed; on its end or failure, the next step (rewatch, relist, back off). */
  private watch(): void {
    if (this.closed) return;
    const [lo, hi] = KUBE_WATCH_TIMEOUT_SECONDS;
    const seconds = this.options.watchTimeoutSeconds ?? lo + Math.floor(Math.random() * (hi - lo));
    const rv = this.resourceVersion ? `&resourceVersion=${encodeURIComponent(this.resourceVersion)}` : "";
    this.counts.watches++;
    this.request(
      this.path(`&watch=true&allowWatchBookmarks=true&timeoutSeconds=${seconds}${rv}`),
      seconds * 1000 + KUBE_WATCH_IDLE_SLACK,
      true,
    )
      .then((res) => {
        this.state = "watching";
        return this.consume(res);
      })
      .then(
        () => {
          // The server closed the watch (timeoutSeconds): resume from where we are.
          this.failures = 0;
          this.watch();
        },
        (err: unknown) => {
          if (this.closed) return;
          if (err instanceof GoneError) {
            this.counts.relistsOnGone++;
            log.info({ route: this.options.route, service: this.options.service }, "endpointslice watch expired (410 Gone): relisting");
            this.resourceVersion = undefined;
            this.list().then(
              () => this.watch(),
              (e: unknown) => this.fail(e),
            );
            return;
          }
          this.fail(err);
        },
      );
  }

  /** Reads watch events until the stream ends; rejects with GoneError on an expired resourceVersion. */
  private consume(res: IncomingMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      let buffer = "";
      let failed = false;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (failed) return;
        buffer += chunk;
        for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          try {
            this.onEvent(JSON.parse(line) as WatchEvent);
          } catch (err) {
            failed = true;
            res.destroy();
            reject(err);
            return;
          }
        }
      });
      res.once("end", () => {
        if (!failed) resolve();
      });
      res.once("error", (err) => {
        if (!failed) reject(err);
      });
      res.once("close", () => {
        if (!failed && !res.complete) reject(new Error("watch connection closed"));
      });
    });
  }

  private onEvent(event: WatchEvent): void {
    this.counts.events++;
    this.failures = 0;
    const { object } = event;
    if (event.type === "ERROR") {
      if (object.code === 410) throw new GoneError(object.message ?? "resourceVersion too old");
      throw new Error(`watch error ${object.code ?? ""}: ${object.message ?? object.reason ?? "unknown"}`);
    }
    if (object.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
    if (event.type === "BOOKMARK") return;
    const name = object.metadata?.name;
    if (!name) return;
    if (event.type === "DELETED") this.slices.delete(name);
    else this.slices.set(name, object);
    this.recompute();
  }

  private recompute(): void {
    const { port } = this.options;
    const endpoints: Endpoint[] = [];
    const unresolved: string[] = [];
    for (const [name, slice] of this.slices) {
      const number = typeof port === "number" ? port : slice.ports?.find((p) => p.name === port)?.port;
      if (!number) {
        if ((slice.endpoints?.length ?? 0) > 0) unresolved.push(name);
        continue;
      }
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        // "These are all assumed to be fungible and clients may choose to only use the first element."
        const address = ep.addresses?.[0];
        if (address) endpoints.push(endpointForAddress(this.protocol, address, number));
      }
    }
    if (unresolved.length > 0 && unresolved.join() !== this.unresolvedPort.join()) {
      log.warn(
        { route: this.options.route, service: this.options.service, port, slices: unresolved },
        "endpointslices have no port of that name",
      );
    }
    this.unresolvedPort = unresolved;
    const diff = this.set.replace(endpoints);
    if (diff) {
      log.info(
        {
          route: this.options.route,
          service: this.options.service,
          added: diff.added.map((e) => e.id),
          removed: diff.removed.map((e) => e.id),
        },
        "endpointslice endpoints changed",
      );
      this.emit("change", this.set.current);
    }
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    const message = (err as Error).message ?? String(err);
    this.lastError = { message, at: new Date() };
    metrics.upstreamErrors.inc({ route: this.options.route, reason: "discovery_failed" });
    if (this.failures === 0)
      log.warn(
        { route: this.options.route, service: this.options.service, endpoints: this.set.current.length, err: message },
        "endpointslice list/watch failed: keeping the last good endpoints",
      );
    this.failures++;
    const delay = reconnectDelay(this.failures, KUBE_RETRY_MIN, KUBE_RETRY_MAX);
    this.state = "backoff";
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Without a resourceVersion (the first list failed, or a relist did) only a list can resume.
      if (this.resourceVersion === undefined) {
        this.list().then(
          () => this.watch(),
          (e: unknown) => this.fail(e),
        );
      } else this.watch();
    }, delay);
    this.timer.unref();
  }

  /** GET an API path; resolves with a 200 response (body unread), rejects with GoneError on 410. */
  private async request(path: string, timeout: number, streaming = false, retried = false): Promise<IncomingMessage> {
    if (this.closed) throw new Error("closed");
    const connection = await this.connect();
    const headers: OutgoingHttpHeaders = { accept: "application/json" };
    await connection.authorize(headers);
    if (this.closed) throw new Error("closed");
    const url = new URL(connection.server.replace(/\/+$/, "") + path);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(url, { method: "GET", headers, ...(url.protocol === "https:" ? { agent: this.agent } : {}), timeout });
      this.current = { abort: () => req.destroy(new Error("closed")) };
      req.once("timeout", () => req.destroy(new Error(`${streaming ? "watch" : "list"} timed out after ${timeout}ms`)));
      req.once("error", reject);
      req.once("response", resolve);
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status === 200) return res;
    const text = await readBody(res);
    if (status === 410) throw new GoneError(statusMessage(text) ?? "resourceVersion too old");
    if (status === 401) {
      if (!retried && connection.refresh?.()) return this.request(path, timeout, streaming, true);
      this.reconnect();
    }
    throw new HttpStatusError(status, `GET ${url.pathname}: ${status} ${statusMessage(text) ?? res.statusMessage ?? ""}`.trim());
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (text += c));
    res.once("end", () => resolve(text));
    res.once("error", reject);
  });
}

/** The `message` of a Kubernetes Status body, if that is what it is. */
function statusMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { kind?: string; message?: string };
    return body.kind === "Status" ? body.message : undefined;
  } catch {
    return undefined;
  }
}
