/** A real local HTTP origin for tests: handlers by path prefix, counts requests and TCP connections. */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeServer, listenOn } from "./listen.js";

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the default handler answers: the request as the origin received it. */
export interface Echo {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Origin {
  server: Server;
  url: string;
  port: number;
  /** Requests received, by any path. */
  requests: number;
  /** TCP connections accepted so far. */
  connections: number;
  route(prefix: string, handler: Handler): Origin;
  close(): Promise<void>;
}

/** Unmatched paths echo method, url and headers as JSON. */
export async function startOrigin(host = "127.0.0.1"): Promise<Origin> {
  const routes: Array<[string, Handler]> = [];
  const server = createServer((req, res) => {
    origin.requests++;
    const hit = routes.find(([prefix]) => (req.url ?? "/").startsWith(prefix));
    if (hit) return hit[1](req, res);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  server.on("connection", () => origin.connections++);
  const port = await listenOn(server, host);
  const origin: Origin = {
    server,
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    requests: 0,
    connections: 0,
    route(prefix, handler) {
      routes.push([prefix, handler]);
      return origin;
    },
    close: () => closeServer(server),
  };
  return origin;
}

/** Origins on several loopback addresses (127.0.0.N) sharing one port, as discovered endpoints do: A records carry no port. */
export interface OriginFleet {
  port: number;
  origins: Map<string, { server: Server; hits: number }>;
  close(): Promise<void>;
}

export async function startOriginFleet(hosts: readonly string[]): Promise<OriginFleet> {
  const origins = new Map<string, { server: Server; hits: number }>();
  const close = async () => {
    for (const o of origins.values()) await closeServer(o.server);
    origins.clear();
  };
  // The first origin picks a free port; the others need the same one on their own address, which may be taken.
  for (let attempt = 0; ; attempt++) {
    let port = 0;
    try {
      for (const host of hosts) {
        const entry = { server: createServer(), hits: 0 };
        entry.server.on("request", (_req, res) => {
          entry.hits++;
          // A little latency, so that requests are in flight while endpoints change.
          setTimeout(() => res.end(host), 2);
        });
        await new Promise<void>((resolve, reject) => {
          entry.server.once("error", reject);
          entry.server.listen(port, host, () => resolve());
        });
        if (port === 0) port = (entry.server.address() as { port: number }).port;
        origins.set(host, entry);
      }
      return { port, origins, close };
    } catch (err) {
      await close();
      if (attempt >= 5) throw err;
    }
  }
}
