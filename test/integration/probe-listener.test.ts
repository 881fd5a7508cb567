/**
 * The probe listener (root `probe`): /healthz and /readyz for kubelet, whatever Host it sends, and
 * nothing else: no route table, config, metrics or drain.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { type AttacheErrorBody, send } from "../harness/http.js";

let attache: AttacheUnderTest;
let probeUrl: string;

beforeAll(async () => {
  attache = await startAttache("probe: 127.0.0.1:0\nroutes: []\n");
  probeUrl = `http://${attache.running.probe}`;
});

afterAll(async () => {
  await attache?.stop();
});

describe("probe listener", () => {
  it("answers /healthz and /readyz, with the Host kubelet sends (the pod IP) or any other", async () => {
    expect((await send(probeUrl, "/healthz", { headers: { host: "10.1.2.3:9902" } })).status).toBe(200);
    const ready = await send(probeUrl, "/readyz", { headers: { host: "10.1.2.3:9902" } });
    expect(ready.status).toBe(200);
    expect(ready.text).toBe("ready\n");
    const verbose = await send(probeUrl, "/readyz?verbose", { headers: { accept: "application/json" } });
    expect(verbose.text).toBe("ready\n");
  });

  it.each([
    ["GET", "/routes"],
    ["GET", "/config"],
    ["GET", "/metrics"],
    ["POST", "/quitquitquit"],
  ])("serves nothing else: %s %s is 404 no_route", async (method, path) => {
    const answer = await send<AttacheErrorBody>(probeUrl, path, { method });
    expect(answer.status).toBe(404);
    expect(answer.json.error.code).toBe("no_route");
    expect(attache.running.state.draining).toBe(false);
  });

  it("turns /readyz 503 when the drain starts", async () => {
    attache.running.state.draining = true;
    try {
      expect((await send(probeUrl, "/readyz")).status).toBe(503);
    } finally {
      attache.running.state.draining = false;
    }
  });
});
