/**
 * DNS discovery: every A and AAAA record of `name` (a headless Service gives one per ready pod), or its
 * SRV records when `port` is omitted, re-resolved every `interval`.
 *
 * A failed lookup (timeout, SERVFAIL, refused) and an empty answer (NXDOMAIN or no records) both keep
 * the last good set: a resolver hiccup or a scale-to-zero seen through DNS must not become an outage
 * of its own. Both are logged, counted in `attache_upstream_errors_total{reason}` (discovery_failed /
 * discovery_empty) and shown by describe() (→ /routes) until a good answer comes back.
 */
import type { SrvRecord } from "node:dns";
import { lookup, Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { EventEmitter } from "node:events";
import { DEFAULTS } from "../config/defaults.js";
import { formatDuration } from "../config/units.js";
import { log } from "../observability/log.js";
import { metrics } from "../observability/metrics.js";
import type { Endpoint, EndpointSource } from "./endpoint-source.js";
import { EndpointSet, endpointForAddress } from "./endpoint-set.js";

/** Below this an `interval` is raised to it: a re-resolve loop must never spin. */
export const MIN_DNS_INTERVAL = 50;
/**
 * Per-query timeout and tries, handed to c-ares.
 * @default 2000 ms × 2 — a lookup gives up within about 4 s, well inside the default interval, and a
 * single lost UDP packet does not count as a failed lookup.
 */
export const DNS_QUERY_TIMEOUT = 2_000;
export const DNS_QUERY_TRIES = 2;

/** c-ares codes that mean "the name has no such records", as opposed to "the lookup did not work". */
const NO_RECORDS = new Set(["ENODATA", "ENOTFOUND"]);

export interface DnsSourceOptions {
  /** Route name, for logs and metrics. */
  route: string;
  name: string;
  /** Omitted: SRV records of `name` give targets and ports. */
  port?: number;
  /** Re-resolve period in ms. */
  interval?: number;
  /** "ip:port" or "[ipv6]:port" or a bare ip: resolvers to use instead of the system's. */
  servers?: readonly string[];
  protocol?: Endpoint["protocol"];
}

type Outcome = { status: "ok"; endpoints: Endpoint[] } | { status: "empty"; reason: string } | { status: "failed"; error: Error };

export class DnsSource extends EventEmitter implements EndpointSource {
  readonly kind = "dns";
  private readonly set = new EndpointSet();
  private readonly resolver = new Resolver({ timeout: DNS_QUERY_TIMEOUT, tries: DNS_QUERY_TRIES });
  private readonly interval: number;
  private readonly protocol: Endpoint["protocol"];
  private timer: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private serversReady: Promise<void> | undefined;
  private closed = false;
  private last: { status: Outcome["status"]; at: Date; message?: string } | undefined;
  private lastGoodAt: Date | undefined;

  constructor(private readonly options: DnsSourceOptions) {
    super();
    this.interval = Math.max(options.interval ?? DEFAULTS.route.dnsInterval, MIN_DNS_INTERVAL);
    this.protocol = options.protocol ?? "http:";
  }

  /** First lookup, then one every `interval`; resolves after the first lookup, whatever its outcome. */
  start(): Promise<void> {
    this.started ??= this.refresh();
    return this.started;
  }

  endpoints(): readonly Endpoint[] {
    return this.set.current;
  }

  describe(): Record<string, unknown> {
    const o = this.options;
    return {
      source: "dns",
      name: o.name,
      ...(o.port !== undefined ? { port: o.port, records: "A/AAAA" } : { records: "SRV" }),
      interval: formatDuration(this.interval),
      servers: o.servers ?? "system",
      endpoints: this.set.current.map((e) => e.id),
      lastChange: this.set.changedAt?.toISOString() ?? null,
      lastGoodLookup: this.lastGoodAt?.toISOString() ?? null,
      lastLookup: this.last
        ? { status: this.last.status, at: this.last.at.toISOString(), ...(this.last.message && { message: this.last.message }) }
        : null,
      ...(this.last && this.last.status !== "ok" && this.lastGoodAt && { stale: true }),
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.resolver.cancel();
  }

  /** Look up once and apply the outcome; schedules the next lookup. Never rejects. */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    const outcome = await this.lookup().catch((error: Error): Outcome => ({ status: "failed", error }));
    if (this.closed) return;
    this.apply(outcome);
    this.timer = setTimeout(() => void this.refresh(), this.interval);
    this.timer.unref();
  }

  private apply(outcome: Outcome): void {
    const { route, name } = this.options;
    const previous = this.last;
    const at = new Date();
    if (outcome.status === "ok") {
      this.last = { status: "ok", at };
      this.lastGoodAt = at;
      if (previous && previous.status !== "ok")
        log.info({ route, dns: name, endpoints: outcome.endpoints.length }, "dns discovery recovered");
      const diff = this.set.replace(outcome.endpoints);
      if (diff) {
        if (previous)
          log.info(
            { route, dns: name, added: diff.added.map((e) => e.id), removed: diff.removed.map((e) => e.id) },
            "dns endpoints changed",
          );
        this.emit("change", this.set.current);
      }
      return;
    }
    const message = outcome.status === "empty" ? outcome.reason : outcome.error.message;
    this.last = { status: outcome.status, at, message };
    metrics.upstreamErrors.inc({ route, reason: outcome.status === "empty" ? "discovery_empty" : "discovery_failed" });
    // Log on a change of state, not on every interval: a resolver down for an hour is one warning.
    if (previous?.status !== outcome.status || previous.message !== message) {
      log.warn(
        { route, dns: name, endpoints: this.set.current.length, message },
        outcome.status === "empty"
          ? "dns answer is empty: keeping the last good endpoints"
          : "dns lookup failed: keeping the last good endpoints",
      );
    }
  }

  private async lookup(): Promise<Outcome> {
    this.serversReady ??= this.useServers().catch((err: unknown) => {
      this.serversReady = undefined; // try the names again at the next interval
      throw err;
    });
    await this.serversReady;
    const { name, port } = this.options;
    if (port !== undefined) {
      const hosts = await this.addresses(name);
      if (hosts === undefined) return { status: "empty", reason: `no A/AAAA records for ${name}` };
      return { status: "ok", endpoints: hosts.map((h) => endpointForAddress(this.protocol, h, port)) };
    }
    let records: SrvRecord[];
    try {
      records = await this.resolver.resolveSrv(name);
    } catch (err) {
      if (NO_RECORDS.has((err as NodeJS.ErrnoException).code ?? "")) return { status: "empty", reason: `no SRV records for ${name}` };
      throw err;
    }
    if (records.length === 0) return { status: "empty", reason: `no SRV records for ${name}` };
    // RFC 2782: only the lowest priority value is in use while any of its targets answer. Weights are
    // not honoured (the balancer has none); every target of that priority gets an equal share.
    const best = Math.min(...records.map((r) => r.priority));
    const chosen = records.filter((r) => r.priority === best);
    const resolved = await Promise.all(
      chosen.map(async (r) => ({ port: r.port, hosts: isIP(r.name) ? [r.name] : await this.addresses(r.name) })),
    );
    const endpoints = resolved.flatMap((r) => (r.hosts ?? []).map((h) => endpointForAddress(this.protocol, h, r.port)));
    if (endpoints.length === 0) return { status: "empty", reason: `SRV targets of ${name} have no A/AAAA records` };
    return { status: "ok", endpoints };
  }

  /** All A and AAAA addresses; undefined when the name has none. Any other failure throws. */
  private async addresses(name: string): Promise<string[] | undefined> {
    const results = await Promise.allSettled([this.resolver.resolve4(name), this.resolver.resolve6(name)]);
    const hosts: string[] = [];
    for (const r of results) {
      if (r.status === "fulfilled") hosts.push(...r.value);
      // A failed query of one family fails the whole lookup: a half answer would drop live endpoints.
      else if (!NO_RECORDS.has((r.reason as NodeJS.ErrnoException).code ?? "")) throw r.reason;
    }
    return hosts.length > 0 ? hosts : undefined;
  }

  /** `servers` may name hosts: c-ares takes addresses only, so names are looked up once, by the system. */
  private async useServers(): Promise<void> {
    const servers = this.options.servers;
    if (!servers || servers.length === 0) return;
    const list = await Promise.all(
      servers.map(async (s) => {
        const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(s);
        if (!m) throw new Error(`invalid DNS server ${s}`);
        const host = m[1] ?? m[2]!;
        const ip = isIP(host) ? host : (await lookup(host)).address;
        const port = m[3] ?? "53";
        return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
      }),
    );
    this.resolver.setServers(list);
  }
}
