/**
 * The optional RESP listener (`listen`): ordinary Redis clients talk RESP2 or RESP3 to attache, which
 * applies the allowlist and keyPrefix and relays to the route's Redis. This file accepts connections
 * (one socket per address, shared across config generations) and applies the per-port connection
 * cap; each client is a Session (session.ts).
 */
import { createServer, type Server, type Socket } from "node:net";
import { log } from "../../../observability/log.js";
import { metrics } from "../../../observability/metrics.js";
import { errorReply } from "../resp/encoder.js";
import type { RespBackend, RespLimits } from "./backend.js";
import { CLOSE_GRACE_MS } from "./output.js";
import { Session } from "./session.js";
import { parseHostPort } from "../../../net/address.js";

/** A refused connection is logged at most this often per listener (a client in a connect loop must not flood the log). */
const REFUSAL_LOG_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Listening sockets, shared across config generations: after a reload the newest route serves new
// connections on the same address while the old one finishes; the socket closes with its last owner.

interface SharedServer {
  server: Server;
  owners: RespListener[];
  ready: Promise<void>;
}
const servers = new Map<string, SharedServer>();

export class RespListener {
  private readonly sessions = new Set<Session>();
  private closed = false;
  private nextId = 1;
  /** The bound port (useful when `listen` asked for port 0 in tests). */
  port = 0;

  private lastRefusalLog = 0;

  constructor(
    readonly address: string,
    private readonly backend: RespBackend,
    private readonly limits: RespLimits,
  ) {}

  /** Bind (or join the socket an older generation of this route holds). Rejects when the address is taken. */
  start(): Promise<void> {
    let shared = servers.get(this.address);
    if (!shared) {
      const server = createServer({ noDelay: true }, (socket) => {
        const owner = shared!.owners[shared!.owners.length - 1];
        if (owner)
          owner.accept(
            socket,
            shared!.owners.reduce((n, o) => n + o.clients, 0),
          );
        else socket.destroy();
      });
      const { host, port } = parseHostPort(this.address, "resp");
      const entry: SharedServer = {
        server,
        owners: [],
        ready: new Promise<void>((resolve, reject) => {
          server.once("error", (err) => {
            servers.delete(this.address);
            reject(err);
          });
          server.listen(port, host, () => resolve());
        }),
      };
      shared = entry;
      servers.set(this.address, entry);
    }
    shared.owners.push(this);
    const entry = shared;
    return entry.ready.then(() => {
      const info = entry.server.address();
      this.port = typeof info === "object" && info ? info.port : 0;
    });
  }

  get clients(): number {
    return this.sessions.size;
  }

  /** `connected`: clients on this address already, across generations (the cap is per port). */
  accept(socket: Socket, connected: number): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (connected >= this.limits.maxConnections) {
      const route = this.backend.runner.route.name;
      metrics.clientDisconnects.inc({ route, reason: "max_connections" });
      if (Date.now() - this.lastRefusalLog > REFUSAL_LOG_MS) {
        this.lastRefusalLog = Date.now();
        log.warn(
          { route, listen: this.address, limit: this.limits.maxConnections },
          "RESP connection refused: limits.maxConnections reached",
        );
      }
      socket.on("error", () => {});
      socket.end(errorReply(`ERR max number of clients reached (limits.maxConnections ${this.limits.maxConnections})`));
      socket.resume();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      return;
    }
    const session = new Session(this.nextId++, socket, this.backend, this.limits, () => this.sessions.delete(session));
    this.sessions.add(session);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Clients first: server.close() waits for every connection to end, and RESP clients stay connected.
    for (const session of this.sessions) session.destroy();
    const shared = servers.get(this.address);
    if (shared) {
      shared.owners = shared.owners.filter((o) => o !== this);
      if (shared.owners.length === 0) {
        servers.delete(this.address);
        await new Promise<void>((resolve) => shared.server.close(() => resolve()));
      }
    }
  }
}
