/**
 * The Node limit for attache's design: a bare node:http server forwarding with undici's dispatch, the
 * pool settings of an attache route by default (src/config/defaults.ts: 256 connections, keep-alive,
 * 4 s idle), no routing, no policy, no resilience. Bodies stream through; the upstream pauses when the
 * client is slow.
 *   node --import tsx test/bench/servers/undici-pipe.ts PORT ORIGIN_PORT
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import { Agent, type Dispatcher } from "undici";

const port = Number(process.argv[2]);
const origin = `http://127.0.0.1:${process.argv[3]}`;
const agent = new Agent({
  connections: 256,
  pipelining: 1,
  keepAliveTimeout: 4_000,
  keepAliveMaxTimeout: 4_000,
  headersTimeout: 0,
  bodyTimeout: 0,
});

class Relay implements Dispatcher.DispatchHandler {
  constructor(private readonly res: ServerResponse) {}
  // Its presence is what tells undici that this handler speaks the controller API.
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.res.writeHead(statusCode, headers);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once("drain", () => controller.resume());
    }
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_c: Dispatcher.DispatchController, _err: Error): void {
    if (!this.res.headersSent) this.res.writeHead(502);
    this.res.end();
  }
}

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const { connection: _c, "keep-alive": _k, ...headers } = req.headers;
  const hasBody = req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
  agent.dispatch(
    {
      origin,
      path: req.url?.replace(/^\/svc/, "") || "/",
      method: req.method as Dispatcher.HttpMethod,
      headers: headers as Record<string, string>,
      body: hasBody ? req : null,
    },
    new Relay(res),
  );
});
server.listen(port, "127.0.0.1");
// Exit cleanly on a signal (so `node --cpu-prof` writes its profile).
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
