/**
 * The bench's HTTP origin: a bare node:http server answering 200 with ~100 B, or 64 KiB when the
 * path contains "big". Bodies are built once; each response is one writeHead + one end.
 *   node --import tsx test/bench/servers/origin.ts PORT
 */
import { createServer } from "node:http";

const port = Number(process.argv[2]);
const small = Buffer.from(`${"x".repeat(99)}\n`);
const big = Buffer.alloc(64 * 1024, "y");
const headers = (body: Buffer) => ({ "content-type": "text/plain", "content-length": String(body.length) });
const smallHeaders = headers(small);
const bigHeaders = headers(big);

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const isBig = req.url?.includes("big");
  // A request body (PUT/POST) is drained before the answer.
  req.resume();
  res.writeHead(200, isBig ? bigHeaders : smallHeaders);
  res.end(isBig ? big : small);
});
server.listen(port, "127.0.0.1");
// Exit cleanly on a signal (so `node --cpu-prof` writes its profile).
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
