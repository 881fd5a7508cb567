/**
 * Drain on SIGTERM, on the real binary: /readyz turns 503 at once, requests in
 * flight complete, new ones are still served, the process exits 0 once idle; streams are cut at
 * drainTimeout; a second signal exits at once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeConfig } from "../harness/attache.js";
import { eventually, send } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";
import { spawnAttache, type SpawnedAttache } from "../harness/spawn-attache.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** An origin whose /hold answers only when the test says so, and /stream never ends. */
async function holdingOrigin(): Promise<{ origin: Origin; release(): void }> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const origin = await startOrigin();
  origin.route("/hold", (_req, res) => void released.then(() => res.end("done")));
  origin.route("/stream", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first\n");
  });
  cleanup.push(() => {
    release();
    return origin.close();
  });
  return { origin, release };
}

async function spawnWith(origin: Origin, shutdown: string): Promise<SpawnedAttache> {
  const dir = mkdtempSync(join(tmpdir(), "attache-drain-"));
  writeConfig(
    dir,
    `admin: 127.0.0.1:0
log: { level: info, access: false }
shutdown: ${shutdown}
routes:
  - prefix: /o
    streaming: true
    upstream: { http: { endpoints: ["${origin.url}"] } }
`,
  );
  const attache = await spawnAttache(dir);
  cleanup.push(() => {
    attache.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return attache;
}

describe("drain on SIGTERM", () => {
  it("turns /readyz 503 at once, completes requests in flight, serves new ones, then exits 0", async () => {
    const { origin, release } = await holdingOrigin();
    const attache = await spawnWith(origin, "{ idleGrace: 1s, drainTimeout: 15s }");
    expect((await send(attache.adminUrl, "/readyz")).status).toBe(200);

    const held = [0, 1, 2].map(() => send(attache.url, "/o/hold"));
    await eventually(() => origin.requests === 3);
    let answered = false;
    let exitedBeforeLastAnswer = false;
    void attache.exited.then(() => (exitedBeforeLastAnswer = !answered));

    attache.child.kill("SIGTERM");
    await eventually(async () => (await send(attache.adminUrl, "/readyz")).status === 503, 2000);
    expect((await send(attache.adminUrl, "/readyz")).text).toBe("draining\n");
    // Still serving: the app beside it may be finishing its own work.
    expect((await send(attache.url, "/o/during")).status).toBe(200);

    release();
    const answers = await Promise.all(held);
    expect(answers.map((a) => [a.status, a.text])).toEqual([
      [200, "done"],
      [200, "done"],
      [200, "done"],
    ]);
    // Within idleGrace of the last one, a late call is still answered.
    expect((await send(attache.url, "/o/late")).status).toBe(200);
    answered = true;

    const exit = await attache.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitedBeforeLastAnswer).toBe(false);
    expect(attache.stdout()).toContain('"drained; bye"');
  });

  it("cuts a stream that is still open when drainTimeout passes, and exits 0", async () => {
    const { origin } = await holdingOrigin();
    const attache = await spawnWith(origin, "{ idleGrace: 5s, drainTimeout: 1s }");
    const url = new URL(attache.url);
    const stream = await new Promise<{ first: string; ended: Promise<string> }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: "/o/stream" }, (res) => {
        res.once("data", (chunk: Buffer) => {
          resolve({
            first: chunk.toString(),
            ended: new Promise((done) => {
              res.on("error", () => done("cut"));
              res.on("aborted", () => done("cut"));
              res.on("close", () => done(res.complete ? "complete" : "cut"));
            }),
          });
        });
      });
      req.on("error", reject);
      req.end();
    });
    expect(stream.first).toBe("first\n");

    attache.child.kill("SIGTERM");
    expect(await stream.ended).toBe("cut");
    expect(await attache.exited).toEqual({ code: 0, signal: null });
    expect(attache.stdout()).toContain("drain timeout passed");
  });

  it("exits at once on a second signal", async () => {
    const { origin } = await holdingOrigin();
    const attache = await spawnWith(origin, "{ idleGrace: 2s, drainTimeout: 20s }");
    const held = send(attache.url, "/o/hold").catch(() => "cut");
    await eventually(() => origin.requests === 1);

    attache.child.kill("SIGTERM");
    await eventually(async () => (await send(attache.adminUrl, "/readyz")).status === 503, 2000);
    attache.child.kill("SIGTERM");
    const exit = await attache.exited;
    expect(exit.code).toBe(1);
    // The held request was never answered by the origin: the process did not wait for it.
    expect(await held).toBe("cut");
  });
});
