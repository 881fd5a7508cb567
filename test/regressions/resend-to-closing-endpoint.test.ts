/**
 * Regression: the one-off resend after a reset before the response head went to the same endpoint.
 * When that endpoint was going away (a pod that stops closes its connections as they come), the
 * resend failed too and the app saw a 502, though another endpoint was serving. Seen with
 * EndpointSlice discovery during a graceful scale-down.
 */
import { createServer, type Socket } from "node:net";
import { afterEach, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { closeServer, listenOn } from "../harness/listen.js";
import { startOrigin, type Origin } from "../harness/origin.js";

let attache: AttacheUnderTest | undefined;
let origin: Origin | undefined;
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  await attache?.stop();
  await origin?.close();
  for (const c of cleanup.splice(0)) await c();
});

it("a GET whose connection is reset before the head goes again to another endpoint", async () => {
  // A server shutting down: every connection is closed as soon as a request arrives on it.
  const sockets = new Set<Socket>();
  let reset = 0;
  const closing = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", () => {
      reset++;
      socket.destroy();
    });
  });
  const closingPort = await listenOn(closing);
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    return closeServer(closing);
  });
  origin = await startOrigin();
  attache = await startAttache(`log: { level: fatal, access: false }
routes:
  - prefix: /svc
    upstream: { http: { endpoints: ["http://127.0.0.1:${closingPort}", "${origin.url}"], balance: round-robin } }
`);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await send(attache.url, "/svc/item")).status);
  expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
  // Round robin sent some of them to the closing server first: those are the resends.
  expect(reset).toBeGreaterThan(0);
  expect(origin.requests).toBe(6);
});
