/**
 * Node's own floor for the HTTP route: node:http server → http.request with a keep-alive agent,
 * response piped back. No routing, no header rewriting, no resilience: the least a Node proxy does.
 *   node --import tsx test/bench/servers/http-pipe.ts PORT ORIGIN_PORT
 */
import { Agent, createServer, request } from "node:http";

const port = Number(process.argv[2]);
const originPort = Number(process.argv[3]);
const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: "lifo" });

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const upstream = request(
    { agent, host: "127.0.0.1", port: originPort, method: req.method, path: req.url?.replace(/^\/svc/, "") || "/", headers: req.headers },
    (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    },
  );
  upstream.on("error", () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});
server.listen(port, "127.0.0.1");
// Exit cleanly on a signal (so `node --cpu-prof` writes its profile).
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
