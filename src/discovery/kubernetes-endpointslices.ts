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
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { KubeApiConnection } from "../kubernetes-api/connection.js";
import { log } from "../observability/log.js";
import { metrics } from "../observability/metrics.js";
import { reconnectDelay } from "../resilience/backoff.js";
import type { Endpoint, EndpointSource } from "./endpoint-source.js";
import { EndpointSet } from "./endpoint-set.js";
import { type EndpointSliceJson, endpointsOfSlices } from "./endpointslice-endpoints.js";
import {
  GoneError,
  HttpStatusError,
  KUBE_LIST_TIMEOUT,
  KUBE_WATCH_IDLE_SLACK,
  KUBE_WATCH_TIMEOUT_SECONDS,
  kubeApiGet,
  readBody,
  readWatchEvents,
  type WatchEvent,
} from "./kube-api-list-watch.js";
import { KubeApiSession } from "./kube-api-session.js";

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

export class KubernetesEndpointSliceSource extends EventEmitter implements EndpointSource {
  readonly kind = "kubernetes";
  private readonly set = new EndpointSet();
  private readonly slices = new Map<string, EndpointSliceJson>();
  private readonly protocol: Endpoint["protocol"];
  private readonly session: KubeApiSession;
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
    this.session = new KubeApiSession(options.connect, (connection) => {
      this.namespace = options.namespace ?? connection.namespace ?? "default";
    });
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
      ...(this.session.connected && { server: this.session.connected.server, ...this.session.connected.describe?.() }),
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
    this.session.close();
  }

  private path(extra: string): string {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${this.options.service}`);
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/endpointslices?labelSelector=${selector}${extra}`;
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
        return readWatchEvents(res, (event) => this.onEvent(event));
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
    const { endpoints, unresolved } = endpointsOfSlices(this.slices, port, this.protocol);
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
    const connection = await this.session.connect();
    const headers: OutgoingHttpHeaders = { accept: "application/json" };
    await connection.authorize(headers);
    if (this.closed) throw new Error("closed");
    try {
      return await kubeApiGet(connection.server, path, headers, this.session.agent, timeout, streaming, (abort) => {
        this.current = { abort };
      });
    } catch (err) {
      // A 401 that re-reading fixes goes again at once; otherwise the next attempt resolves credentials again.
      if (err instanceof HttpStatusError && err.status === 401) {
        if (!retried && connection.refresh?.()) return this.request(path, timeout, streaming, true);
        this.session.reconnect();
      }
      throw err;
    }
  }
}
