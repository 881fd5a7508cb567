import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { conversation } from "../harness/resp-conversation.js";

const DEBUG_TYPES = ["string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push", "verbatim", "true", "false"];

describe("RESP listener: RESP3", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute('commands: ["*"]', { resp: true, redisArgs: ["--enable-debug-command", "yes"] });
  });
  afterAll(() => s?.stop());

  it("HELLO 3 answers a map with proto 3; then every type comes exactly as Redis sends it; HELLO 2 goes back", async () => {
    const direct = await conversation(s.redis.port);
    const via = await conversation(s.resp);
    const script = [
      ["HSET", "h", "f", "v"],
      ["SADD", "s", "m"],
      ["ZADD", "z", "1.5", "m"],
      ["HGETALL", "h"],
      ["SMEMBERS", "s"],
      ["ZSCORE", "z", "m"],
      ["GET", "missing"],
      ["HRANDFIELD", "h", "1", "WITHVALUES"],
    ];
    await direct.send([["HELLO", "3", "AUTH", "default", s.redis.password]]);
    const hello = await via.send([["HELLO", "3", "AUTH", "app", "anything", "SETNAME", "worker-1"]]);
    expect(hello[0]!.startsWith("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")).toBe(true);
    expect(hello[0]).toContain("$5\r\nproto\r\n:3\r\n");
    expect(await via.send([["CLIENT", "GETNAME"]])).toEqual(["$8\r\nworker-1\r\n"]);
    const expected = await direct.send(script);
    await s.redis.cli("DEL", "h", "s", "z");
    expect(await via.send(script)).toEqual(expected);
    expect(expected[3]).toBe("%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    expect(expected[5]).toBe(",1.5\r\n");
    expect(expected[6]).toBe("_\r\n");

    const debug = DEBUG_TYPES.map((t) => ["DEBUG", "PROTOCOL", t]);
    // "push" is two frames from Redis: the push, then the reply.
    const fromRedis = await direct.send(debug, debug.length + 1);
    if (fromRedis[0]!.startsWith("-")) throw new Error(`DEBUG is disabled on the test redis: ${fromRedis[0]}`);
    expect(await via.send(debug, fromRedis.length)).toEqual(fromRedis);

    await via.send([["HELLO", "2"]]);
    expect(
      await via.send([
        ["HGETALL", "h"],
        ["ZSCORE", "z", "m"],
        ["GET", "missing"],
      ]),
    ).toEqual(["*2\r\n$1\r\nf\r\n$1\r\nv\r\n", "$3\r\n1.5\r\n", "$-1\r\n"]);
    direct.close();
    via.close();
  });

  it("pub/sub in RESP3: confirmations and messages are push frames; PING still answers while subscribed", async () => {
    const sub = await conversation(s.resp);
    await sub.send([["HELLO", "3"]]);
    expect(await sub.send([["SUBSCRIBE", "news", "sport"]], 2)).toEqual([
      ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
      ">3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n",
    ]);
    await s.redis.cli("PUBLISH", "news", "hello");
    expect(await sub.send([], 1)).toEqual([">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"]);
    expect(await sub.send([["PING"]])).toEqual(["+PONG\r\n"]);
    sub.close();
  });

  it("node-redis 6 with its defaults (RESP3) connects, reads maps, pipelines, runs transactions and subscribes", async () => {
    const client = createClient({ url: `redis://127.0.0.1:${s.resp}` });
    client.on("error", () => {});
    await client.connect();
    try {
      await client.set("n6:k", "v");
      expect(await client.get("n6:k")).toBe("v");
      await client.hSet("n6:h", { a: "1", b: "2" });
      expect(await client.hGetAll("n6:h")).toEqual({ a: "1", b: "2" });
      const replies = await client.multi().incr("n6:c").incr("n6:c").exec();
      expect(replies).toEqual([1, 2]);
      const pipeline = await client.multi().set("n6:p", "1").get("n6:p").execAsPipeline();
      expect(pipeline).toEqual(["OK", "1"]);

      const subscriber = client.duplicate();
      subscriber.on("error", () => {});
      await subscriber.connect();
      const got = new Promise<string>((resolve) => void subscriber.subscribe("n6:ch", (message) => resolve(message)));
      for (let i = 0; i < 50 && (await client.publish("n6:ch", "hi")) === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await got).toBe("hi");
      await subscriber.quit();
    } finally {
      await client.quit();
    }
  });
});
