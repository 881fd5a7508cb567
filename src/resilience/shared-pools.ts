/**
 * Connection pools shared by the routes whose connections are interchangeable: equal pool settings and
 * equal TLS options. undici's Agent keeps a pool per origin, so routes to the same endpoint share its
 * keep-alive connections (as routes of one cluster do in Envoy) and `pool.maxSockets` bounds them
 * together. A pool lives while a route uses it: a reload that keeps a route's settings keeps its
 * connections warm, since the new generation takes the pool before the old one lets it go.
 */
import { createHash } from "node:crypto";
import type { ConnectionOptions } from "node:tls";
import type { ResolvedPool } from "../config/validate.js";
import { Pool } from "./pool.js";

interface Entry {
  readonly pool: Pool;
  users: number;
}

const pools = new Map<string, Entry>();

export interface PoolLease {
  readonly pool: Pool;
  /** Routes using the pool right now, this one included. */
  users(): number;
  /** Once per lease: the last one closes the pool. */
  release(): void;
}

export function leasePool(config: ResolvedPool, tls: ConnectionOptions = {}): PoolLease {
  const key = poolKey(config, tls);
  let entry = pools.get(key);
  if (!entry) {
    entry = { pool: new Pool(config, tls), users: 0 };
    pools.set(key, entry);
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    pool: held.pool,
    users: () => held.users,
    release() {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      pools.delete(key);
      held.pool.close();
    },
  };
}

/** Settings and TLS material (CA, client certificate and key as bytes) decide which pool: a digest, so keys stay small. */
function poolKey(config: ResolvedPool, tls: ConnectionOptions): string {
  return createHash("sha256")
    .update(JSON.stringify([config, tls]))
    .digest("base64url");
}
