/**
 * Regression: the one-off resend after a reset on a reused keep-alive socket checked only that the
 * request had no body, so a body-less POST could reach the upstream twice. Only idempotent methods
 * go again.
 */
import { createServer, type Socket } from "node:net";
import { expect, it } from "vitest";
import { startAttache } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { listenOn } from "../harness/listen.js";

it("a POST meeting a reset on a reused socket is not sent again", async () => {
  let posts = 0;
  const sockets = new Set<Socket>();
  // Answers the first request of a connection; takes in the second, then drops the connection unanswered.
  const server = createServer((socket) => {
    sockets.add(socket);
    let seen = 0;
    socket.on("data", (data) => {
      for (const head of data.toString("latin1").split("\r\n\r\n").slice(0, -1)) {
        if (head.startsWith("POST")) posts++;
        if (++seen > 1) return void socket.destroy();
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
      }
    });
    socket.on("error", () => {});
  });
  const port = await listenOn(server);
  const attache = await startAttache(`admin: 127.0.0.1:0
log: { level: fatal, access: false }
routes: [{ prefix: /p, upstream: { http: { endpoints: ["http://127.0.0.1:${port}"] } } }]`);
  try {
    expect((await send(attache.url, "/p")).status).toBe(200);
    expect((await send(attache.url, "/p", { method: "POST" })).status).toBe(502);
    expect(posts).toBe(1);
  } finally {
    await attache.stop();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});
