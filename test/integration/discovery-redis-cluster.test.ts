/**
 * A redis route with `cluster` against a small real Redis Cluster: three `redis-server
 * --cluster-enabled yes` processes joined with `redis-cli --cluster create`. Keys spread over the
 * three masters through one route; multi-key commands within one slot work; across slots they are
 * split (MGET, DEL) or refused with Redis' own CROSSSLOT error; the RESP listener works the same.
 * redis-server and redis-cli come from `npm test`'s preflight.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { type ClusterSetup, clusterCli, startCluster } from "../harness/redis-cluster.js";
import { freePort, respExchange } from "../harness/redis-server.js";

describe("a redis route with cluster", () => {
  let cluster: ClusterSetup;
  let ports: number[];
  let attache: AttacheUnderTest | undefined;
  let resp = 0;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 0 });
    ports = cluster.ports;
    resp = await freePort();
    attache = await startAttache(`
routes:
  - prefix: /cache
    name: cache
    upstream:
      redis:
        cluster: [${ports.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
        commands: [GET, SET, DEL, MGET, MSET, EXISTS]
        listen: "127.0.0.1:${resp}"
`);
  }, 60_000);

  afterAll(async () => {
    await attache?.stop();
    cluster?.stop();
  });

  it("spreads keys over the masters through one route", async () => {
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${attache!.url}/cache/key-${i}`, { method: "PUT", body: `value-${i}` });
      expect(res.status).toBe(204);
    }
    for (let i = 0; i < 30; i++) expect(await (await fetch(`${attache!.url}/cache/key-${i}`)).text()).toBe(`value-${i}`);
    const perNode = await Promise.all(ports.map(async (p) => Number(await clusterCli(["-p", String(p), "DBSIZE"]))));
    expect(perNode.filter((n) => n > 0).length).toBe(3);
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(30);
  });

  it("runs multi-key commands within one slot, and splits or clearly refuses them across slots", async () => {
    const post = (command: string[]) =>
      fetch(`${attache!.url}/cache`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ command }),
      });
    expect((await post(["MSET", "{user:1}:name", "ada", "{user:1}:lang", "en"])).status).toBe(200);
    expect(await (await post(["MGET", "{user:1}:name", "{user:1}:lang"])).json()).toEqual({ result: ["ada", "en"] });

    const cross = await post(["MGET", "key-1", "key-2", "key-3"]);
    const body = (await cross.json()) as { result?: unknown; error?: { code: string; message: string } };
    if (cross.status === 200) expect(body.result).toEqual(["value-1", "value-2", "value-3"]);
    else {
      expect(cross.status).toBeGreaterThanOrEqual(400);
      expect(cross.status).toBeLessThan(500);
      expect(body.error?.message).toMatch(/slot/i);
    }

    // MSET across slots is not split (it would lose its atomicity): Redis' own CROSSSLOT error.
    const mset = (await (await post(["MSET", "key-1", "a", "key-2", "b"])).json()) as { error?: string };
    expect(mset.error).toMatch(/CROSSSLOT/);
    // DEL and EXISTS across slots are split and their counts added.
    expect(await (await post(["EXISTS", "key-1", "key-2", "nope", "key-3"])).json()).toEqual({ result: 3 });
  });

  it("serves the RESP listener: keys on every master, MGET across slots, replies byte for byte", async () => {
    const { frames } = await respExchange(
      resp,
      Buffer.concat([
        encodeCommand(["SET", "r-1", "one"]),
        encodeCommand(["SET", "r-2", "two"]),
        encodeCommand(["SET", "r-3", "three"]),
        encodeCommand(["MGET", "r-1", "r-2", "missing", "r-3"]),
        encodeCommand(["GET", "r-2"]),
        encodeCommand(["DEL", "r-1", "r-2"]),
      ]),
      6,
    );
    expect(frames.map((f) => f.raw.toString())).toEqual([
      "+OK\r\n",
      "+OK\r\n",
      "+OK\r\n",
      "*4\r\n$3\r\none\r\n$3\r\ntwo\r\n$-1\r\n$5\r\nthree\r\n",
      "$3\r\ntwo\r\n",
      ":2\r\n",
    ]);
    const routes = (await (await fetch(`${attache!.adminUrl}/routes`)).json()) as unknown;
    expect(JSON.stringify(routes)).toContain('"mode":"cluster"');
  });
});
