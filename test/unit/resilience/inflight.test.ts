/** The request lease: one acquire per request, every counter released exactly once, on finish, close or error. */
import { createServer, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InflightCounter, RequestLease } from "../../../src/resilience/inflight.js";

describe("InflightCounter", () => {
  it("counts acquires; a release counts once however often it is called; whenIdle wakes at zero", async () => {
    const c = new InflightCounter();
    const a = c.acquire();
    const b = c.acquire();
    expect(c.active).toBe(2);
    expect(c.idleFor()).toBe(0);
    let idle = false;
    const waited = c.whenIdle().then(() => (idle = true));
    a();
    a();
    expect(c.active).toBe(1);
    await Promise.resolve();
    expect(idle).toBe(false);
    b();
    await waited;
    expect(c.active).toBe(0);
    expect(c.idleFor(Date.now() + 50)).toBeGreaterThanOrEqual(50);
    await c.whenIdle();
  });
});

describe("RequestLease", () => {
  it("takes a place in every counter and gives each back exactly once; nothing is taken after release", () => {
    const drain = new InflightCounter();
    const metric = new InflightCounter();
    const late = new InflightCounter();
    const lease = new RequestLease(drain);
    lease.add(metric);
    expect([drain.active, metric.active]).toEqual([1, 1]);
    lease.release();
    lease.release();
    lease.add(late);
    expect([drain.active, metric.active, late.active]).toEqual([0, 0, 0]);
  });

  describe("over real responses", () => {
    const counter = new InflightCounter();
    const pending: ServerResponse[] = [];
    const server = createServer((req, res) => {
      new RequestLease(counter).releaseOnClose(res);
      if (req.url === "/finish") res.end("ok");
      else pending.push(res);
    });
    let port = 0;
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("is released when the response finishes", async () => {
      await new Promise<void>((resolve, reject) => {
        request({ host: "127.0.0.1", port, path: "/finish" }, (res) => res.resume().on("end", resolve))
          .on("error", reject)
          .end();
      });
      await counter.whenIdle();
      expect(counter.active).toBe(0);
    });

    it("is released when the client goes away before the response, and a closed response releases at once", async () => {
      const client = request({ host: "127.0.0.1", port, path: "/hang" });
      client.on("error", () => {});
      client.end();
      for (let i = 0; i < 200 && pending.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(counter.active).toBe(1);
      client.destroy();
      await counter.whenIdle();
      expect(counter.active).toBe(0);
      // A lease taken on a response already closed does not stay counted.
      const closed = pending.pop()!;
      expect(closed.closed).toBe(true);
      new RequestLease(counter).releaseOnClose(closed);
      expect(counter.active).toBe(0);
    });
  });
});
