/**
 * A SET whose first write ended right after the key: the listener kept a stale start offset and
 * forwarded the next write (the value) as if it were a command, so a refused CONFIG SET carried as
 * the value ran on Redis, and the replies of the route went out of step for every later command.
 */
import { Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { respExchange } from "../harness/redis-server.js";

let s: RedisRoute;
beforeAll(async () => {
  s = await startRedisRoute("", { resp: true });
});
afterAll(() => s?.stop());

it("the value of a split SET is stored, never executed, and the route keeps answering", async () => {
  const refused = encodeCommand(["CONFIG", "SET", "appendonly", "yes"]);
  const socket = new Socket();
  await new Promise<void>((resolve) => socket.connect(s.resp, "127.0.0.1", () => resolve()));
  let replies = "";
  socket.on("data", (c: Buffer) => (replies += c.toString("latin1")));
  socket.write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n");
  await new Promise((r) => setTimeout(r, 50));
  socket.write(Buffer.concat([Buffer.from(`$${refused.length}\r\n`), refused, Buffer.from("\r\n")]));
  socket.write(encodeCommand(["GET", "k"]));
  const expected = `+OK\r\n$${refused.length}\r\n${refused.toString("latin1")}\r\n`;
  for (let i = 0; i < 300 && replies.length < expected.length; i++) await new Promise((r) => setTimeout(r, 10));
  socket.destroy();
  expect(replies).toBe(expected);
  expect((await s.redis.cli("CONFIG", "GET", "appendonly")).split("\n")[1]).toBe("no");
  expect((await s.redis.cli("GET", "k")).trim()).toBe(refused.toString().trim());
  const after = await respExchange(s.resp, encodeCommand(["PING"]), 1);
  expect(after.frames.map((f) => f.raw.toString())).toEqual(["+PONG\r\n"]);
});
