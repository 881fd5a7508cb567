/** Sentinel: which master the shared connection is on and since when, and leaving it when Sentinel says it moved. */
import type { Redis } from "ioredis";
import { log } from "../../../observability/log.js";
import type { Address } from "../failover/sentinel-watch.js";
import { resetSocket, socketOf } from "./ioredis-tap.js";
import type { Outages } from "./outages.js";

export class SentinelMaster {
  /** The master ioredis connected to last, and since when. */
  private master: { address: string; since: Date } | undefined;

  constructor(private readonly route: string) {}

  /** On each ready: note the master the connection went to, and when it changed. */
  noteConnected(redis: Redis): void {
    const stream = socketOf(redis);
    if (!stream?.remoteAddress) return;
    const address = `${stream.remoteAddress}:${stream.remotePort}`;
    if (this.master?.address === address) return;
    if (this.master) log.info({ route: this.route, from: this.master.address, to: address }, "redis master changed");
    this.master = { address, since: new Date() };
  }

  /** Sentinel said the master moved: leave the old one now (its writes would be lost when it resyncs). */
  moved(redis: Redis, outages: Outages, to: Address, why: string): void {
    const from = this.master?.address;
    log.warn({ route: this.route, from, to: `${to.host}:${to.port}`, why }, "redis master moved; reconnecting");
    const cause = `master moved to ${to.host}:${to.port} (${why})`;
    outages.resetBy(cause);
    if (redis.status === "ready" || redis.status === "connect") resetSocket(redis);
  }

  describe(): { master?: string; masterSince?: string } {
    return this.master ? { master: this.master.address, masterSince: this.master.since.toISOString() } : {};
  }
}
