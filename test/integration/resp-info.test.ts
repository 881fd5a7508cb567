/** INFO through the RESP listener: Redis' own where the route's commands allow it, else attache's answer naming the route. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { respExchange, run } from "../harness/redis-server.js";

const info = async (port: number, ...section: string[]) => {
  const { frames } = await respExchange(port, encodeCommand(["INFO", ...section]), 1);
  return (frames[0]!.value as { value: Buffer }).value.toString();
};

describe("RESP listener: INFO", () => {
  let all: RedisRoute;
  let listed: RedisRoute;
  let plain: RedisRoute;
  beforeAll(async () => {
    [all, listed, plain] = await Promise.all([
      startRedisRoute('commands: ["*"]', { resp: true }),
      startRedisRoute('commands: ["GET", "SET", "INFO"]\nkeyPrefix: "p:"', { resp: true }),
      startRedisRoute("", { resp: true }),
    ]);
  });
  afterAll(() => Promise.all([all?.stop(), listed?.stop(), plain?.stop()]));

  it('is forwarded on a commands: ["*"] route: INFO keyspace and memory are Redis\' own (redis-cli too)', async () => {
    await all.redis.cli("SET", "k", "v");
    expect(await info(all.resp, "keyspace")).toMatch(/^# Keyspace\r\ndb0:keys=1,/);
    expect(await info(all.resp, "memory")).toContain("used_memory:");
    expect(await run("redis-cli", ["-p", String(all.resp), "INFO", "keyspace"])).toContain("db0:keys=1");
  });

  it("is forwarded where `commands` lists it", async () => {
    expect(await info(listed.resp, "server")).toContain(`tcp_port:${listed.redis.port}`);
  });

  it("elsewhere attache answers, naming the route and saying it is an ambassador", async () => {
    const text = await info(plain.resp);
    expect(text).toContain("attache_route:/cache");
    expect(text).toContain("ambassador for route /cache");
    expect(text).not.toContain("used_memory");
  });

  it("attache's INFO and HELLO name the version of the Redis behind the route", async () => {
    const version = /redis_version:(\S+)/.exec(await plain.redis.cli("INFO", "server"))![1]!;
    expect(await info(plain.resp)).toContain(`redis_version:${version}`);
    const hello = (await respExchange(plain.resp, encodeCommand(["HELLO", "2"]), 1)).frames[0]!.raw.toString();
    expect(hello).toContain(`$7\r\nversion\r\n$${version.length}\r\n${version}\r\n`);
  });
});
