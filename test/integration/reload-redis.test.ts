/**
 * Reload and RESP listeners: a changed redis route keeps its address (the listening socket
 * is shared between generations), a moved one is rebound, and the other routes' RESP clients never
 * notice.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { eventually } from "../harness/http.js";
import { freePort, startRedis, type RedisServer } from "../harness/redis-server.js";

let redis: RedisServer;
let attache: AttacheUnderTest;
let ports: { a: number; b: number; other: number };

function cacheFile(keyPrefix: string, port: number): string {
  return `routes:
  - prefix: /cache
    upstream:
      redis: { url: "${redis.url}", passwordFile: ../redis-password, keyPrefix: "${keyPrefix}", listen: "127.0.0.1:${port}" }
`;
}

/** A client that never reconnects: a dropped connection shows as an error, not a silent retry. */
function client(port: number): Redis {
  const c = new Redis({
    port,
    host: "127.0.0.1",
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  c.on("error", () => {});
  return c;
}

beforeAll(async () => {
  redis = await startRedis();
  ports = { a: await freePort(), b: await freePort(), other: await freePort() };
  attache = await startAttache({
    root: `admin: 127.0.0.1:0\nlog: { level: error, access: false }\ninclude: [routes.d/*.yaml]\n`,
    files: {
      "redis-password": redis.password,
      "routes.d/cache.yaml": cacheFile("v1:", ports.a),
      "routes.d/other.yaml": `routes:
  - prefix: /other
    upstream:
      redis: { url: "${redis.url}", passwordFile: ../redis-password, keyPrefix: "other:", listen: "127.0.0.1:${ports.other}" }
`,
    },
  });
});

let cleanup: (() => void) | undefined;

afterAll(async () => {
  // RESP clients leave first: a listener that is closing waits for its connected clients.
  cleanup?.();
  await attache?.stop();
  await redis?.stop();
});

describe("reload with RESP listeners", () => {
  it("a changed route keeps its address, a moved one is rebound, the other route's clients stay connected", async () => {
    const other = client(ports.other);
    cleanup = () => other.disconnect();
    let otherClosed = 0;
    other.on("close", () => otherClosed++);
    await other.connect();
    expect(await other.set("k", "1")).toBe("OK");

    // Same address, new keyPrefix: the new route takes the address over.
    writeFileSync(join(attache.dir, "routes.d/cache.yaml"), cacheFile("v2:", ports.a));
    await eventually(async () => {
      const c = client(ports.a);
      try {
        await c.connect();
        await c.set("x", "2");
        return (await redis.cli("GET", "v2:x")).trim() === "2";
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    }, 3000);

    // Moved to another port: the new one answers, the old one is released.
    writeFileSync(join(attache.dir, "routes.d/cache.yaml"), cacheFile("v2:", ports.b));
    await eventually(async () => {
      const c = client(ports.b);
      try {
        await c.connect();
        return (await c.get("x")) === "2";
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    }, 3000);
    const old = client(ports.a);
    const refused = new Promise<string>((resolve) => old.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message)));
    await expect(old.connect()).rejects.toThrow();
    expect(await refused).toBe("ECONNREFUSED");
    old.disconnect();

    expect(await other.get("k")).toBe("1");
    expect(otherClosed).toBe(0);
    other.disconnect();
  });
});
