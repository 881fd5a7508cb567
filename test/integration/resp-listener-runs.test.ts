/**
 * Commands the RESP listener takes as sent: back-to-back commands travel to Redis as one
 * slice and their replies come back as slices of Redis' chunks. A small fake Redis decides how the
 * replies arrive: cut off in the middle of such a run, or dribbled a few bytes at a time.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandParser } from "../../src/upstreams/redis/resp/command-parser.js";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { freePort, respExchange } from "../harness/redis-server.js";

const INFO = "# Server\r\nredis_version:7.0.0\r\nloading:0\r\n";

/**
 * Answers what ioredis sends on connect (INFO for the ready check, +OK for the rest), GET k with
 * "$<len>\r\nvalue-of-k\r\n", ECHO as Redis does. Two commands steer it: ECHO cut answers what came
 * before it in the same read and closes the connection; ECHO dribble sends the replies of every
 * later read 3 bytes at a time; ECHO stray is answered, then followed by a reply nobody asked for.
 */
async function startFakeRedis(): Promise<{ port: number; server: Server; sockets: Set<Socket>; accepted: () => number }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let dribble = false;
    let dribbling = Buffer.alloc(0);
    let out: Buffer[] = [];
    let cut = false;
    const parser = new CommandParser((args) => {
      if (cut) return;
      const name = args[0]!.toString().toUpperCase();
      const arg = args[1]?.toString();
      if (name === "INFO") out.push(Buffer.from(`$${INFO.length}\r\n${INFO}\r\n`));
      else if (name === "GET") out.push(Buffer.from(`$${`value-of-${arg}`.length}\r\nvalue-of-${arg}\r\n`));
      else if (name === "ECHO" && arg === "cut") cut = true;
      else if (name === "ECHO" && arg === "stray") out.push(Buffer.from("$5\r\nstray\r\n+STRAY\r\n"));
      else if (name === "ECHO" && arg === "dribble") {
        dribble = true;
        out.push(Buffer.from("$7\r\ndribble\r\n"));
      } else if (name === "ECHO") out.push(Buffer.from(`$${args[1]!.length}\r\n${arg}\r\n`));
      else out.push(Buffer.from("+OK\r\n"));
    });
    socket.on("data", (chunk: Buffer) => {
      const wasDribbling = dribble;
      parser.feed(chunk);
      const data = Buffer.concat(out);
      out = [];
      if (cut) {
        socket.end(data);
        return;
      }
      if (!wasDribbling) {
        socket.write(data);
        return;
      }
      // One dribble at a time: the replies of a later read (attache's health-check PING) go after these, as Redis sends them.
      const idle = dribbling.length === 0;
      dribbling = Buffer.concat([dribbling, data]);
      const next = () => {
        if (dribbling.length === 0 || socket.destroyed) return;
        socket.write(dribbling.subarray(0, 3));
        dribbling = dribbling.subarray(3);
        setTimeout(next, 1);
      };
      if (idle) next();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { port, server, sockets, accepted: () => accepted };
}

const commands = (...list: string[][]) => Buffer.concat(list.map((c) => encodeCommand(c)));

describe("RESP listener: commands taken as sent, in runs", () => {
  let fake: Awaited<ReturnType<typeof startFakeRedis>>;
  let attache: AttacheUnderTest;
  let resp: number;
  beforeAll(async () => {
    fake = await startFakeRedis();
    resp = await freePort();
    attache = await startAttache(
      [
        "routes:",
        "  - prefix: /cache",
        "    timeout: 5s",
        "    upstream:",
        "      redis:",
        `        url: redis://127.0.0.1:${fake.port}`,
        `        listen: 127.0.0.1:${resp}`,
        '        commands: ["*"]',
      ].join("\n"),
    );
  });
  afterAll(async () => {
    await attache?.stop();
    for (const socket of fake?.sockets ?? []) socket.destroy();
    await new Promise((resolve) => fake?.server.close(resolve));
  });

  it("a run cut off by a lost connection: the replies that came go out, every later command of the run fails, in order", async () => {
    // Names met once first: from then on GET and ECHO are taken as sent, so the five below are one run.
    const warm = await respExchange(resp, commands(["GET", "a"], ["ECHO", "hi"]), 2);
    expect(warm.frames.map((f) => f.raw.toString())).toEqual(["$10\r\nvalue-of-a\r\n", "$2\r\nhi\r\n"]);
    const before = await fetch(`${attache.adminUrl}/metrics`).then((r) => r.text());

    const { frames, closed } = await respExchange(
      resp,
      commands(["GET", "a"], ["GET", "b"], ["ECHO", "cut"], ["GET", "c"], ["gEt", "d"]),
      5,
    );
    const raws = frames.map((f) => f.raw.toString());
    expect(raws.slice(0, 2)).toEqual(["$10\r\nvalue-of-a\r\n", "$10\r\nvalue-of-b\r\n"]);
    expect(raws).toHaveLength(5);
    for (const raw of raws.slice(2)) expect(raw).toMatch(/^-ERR route \/cache: redis unreachable/);
    expect(closed).toBe(false);

    const after = await fetch(`${attache.adminUrl}/metrics`).then((r) => r.text());
    const count = (text: string, command: string, result: string) =>
      Number(
        new RegExp(`attache_redis_commands_total\\{route="/cache",command="${command}",result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0,
      );
    expect(count(after, "get", "ok") - count(before, "get", "ok")).toBe(2);
    expect(count(after, "get", "upstream_unreachable") - count(before, "get", "upstream_unreachable")).toBe(2);
    expect(count(after, "echo", "upstream_unreachable") - count(before, "echo", "upstream_unreachable")).toBe(1);

    // ioredis reconnects by itself; the same kind of run works again.
    let reply = "";
    for (let i = 0; i < 50 && reply !== "$10\r\nvalue-of-x\r\n"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      reply = (await respExchange(resp, commands(["GET", "x"]), 1)).frames[0]?.raw.toString() ?? "";
    }
    expect(reply).toBe("$10\r\nvalue-of-x\r\n");
  });

  it("a reply no command waits for resets the shared connection, reaches no client, and the route recovers", async () => {
    expect((await respExchange(resp, commands(["ECHO", "hi"]), 1)).frames[0]?.raw.toString()).toBe("$2\r\nhi\r\n");
    const connections = fake.accepted();
    const stray = await respExchange(resp, commands(["ECHO", "stray"]), 1);
    expect(stray.frames.map((f) => f.raw.toString())).toEqual(["$5\r\nstray\r\n"]);
    let reply = "";
    for (let i = 0; i < 50 && reply !== "$10\r\nvalue-of-y\r\n"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      reply = (await respExchange(resp, commands(["GET", "y"]), 1, 2_000)).frames[0]?.raw.toString() ?? "";
      expect(reply).not.toBe("+STRAY\r\n");
    }
    expect(reply).toBe("$10\r\nvalue-of-y\r\n");
    expect(fake.accepted()).toBe(connections + 1);
  });

  it("replies that arrive a few bytes at a time, frames split across chunks, come out whole and in order", async () => {
    await respExchange(resp, commands(["GET", "a"], ["ECHO", "x"]), 2);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    // ECHO dribble switches the fake for the connection; it is in a read of its own (the exchange before).
    expect((await respExchange(resp, commands(["ECHO", "dribble"]), 1)).frames[0]?.raw.toString()).toBe("$7\r\ndribble\r\n");
    const { frames } = await respExchange(resp, commands(...keys.map((k) => ["GET", k]), ["ECHO", "end"]), keys.length + 1);
    expect(frames.map((f) => f.raw.toString())).toEqual([
      ...keys.map((k) => `$${`value-of-${k}`.length}\r\nvalue-of-${k}\r\n`),
      "$3\r\nend\r\n",
    ]);
  });
});
