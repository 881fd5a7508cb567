/**
 * What every HTTP listener (app and admin) bounds before a request exists: the time to send a whole
 * request head, idle keep-alive time, and the connections open at once (past it: 503 overloaded, then close).
 */
import type { Server, ServerOptions, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Limits } from "../config/validate.js";
import { AttacheError } from "../errors.js";
import { log } from "../observability/log.js";
import { metrics } from "../observability/metrics.js";
import { respondErrorOnSocket } from "../http/respond-error.js";

/**
 * Options only createServer takes. requestTimeout 0: a body is bounded by its route (timeout,
 * maxBodySize), never by the listener, so long uploads and streams live. Node checks head deadlines
 * every connectionsCheckingInterval (30 s by default, which would let a 10 s head take 40 s).
 */
export const HTTP_SERVER_OPTIONS: ServerOptions = { requestTimeout: 0, connectionsCheckingInterval: 1000 };

/** The admin and probe listeners: every request there is small, so a whole request (body included) has 30 s. */
export const ADMIN_SERVER_OPTIONS: ServerOptions = { ...HTTP_SERVER_OPTIONS, requestTimeout: 30_000 };

/** A refused connection gets this long to read its 503 and close before it is cut. */
const LINGER_MS = 1000;
/** Refused connections still lingering, beyond the cap; past them Node drops new ones unanswered. */
const REFUSALS_LINGERING = 64;
/** A flood of refusals is counted, and logged at most this often. */
const LOG_EVERY_MS = 10_000;

export class ListenerGuard {
  private open = 0;
  private cap = 0;
  private lastLogged = 0;
  private readonly gauge: ReturnType<typeof metrics.listenerConnections.labels>;

  /** `listener` names it in metrics and errors: "listen", "admin" or "probe". */
  constructor(
    private readonly server: Server,
    private readonly listener: string,
    limits: Limits,
  ) {
    this.gauge = metrics.listenerConnections.labels({ listener });
    this.gauge.set(0);
    // node:http registers one 'connection' listener that parses HTTP; the cap decides before it runs.
    const parse = server.listeners("connection");
    if (parse.length !== 1) throw new Error(`${listener}: expected node:http's one connection listener, found ${parse.length}`);
    const handOver = parse[0] as (socket: Socket) => void;
    server.removeListener("connection", handOver);
    server.on("connection", (socket: Socket) => {
      if (this.open >= this.cap) return this.refuse(socket);
      this.open++;
      this.gauge.inc();
      socket.once("close", () => {
        this.open--;
        this.gauge.dec();
      });
      handOver.call(server, socket);
    });
    // Past the lingering refusals too, Node closes at accept: nothing is read, nothing answered.
    server.on("drop", () => metrics.listenerRefusals.inc({ listener, reason: "max_connections" }));
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    this.apply(limits);
  }

  /** At start and on every reload: Node reads all three on the live server. */
  apply(limits: Limits): void {
    // Counted from the first byte of a request head (or from accept): trickling bytes does not extend it.
    this.server.headersTimeout = limits.headersTimeout;
    this.server.keepAliveTimeout = limits.keepAliveTimeout;
    this.cap = limits.maxConnections;
    this.server.maxConnections = limits.maxConnections + REFUSALS_LINGERING;
  }

  private refuse(socket: Socket): void {
    metrics.listenerRefusals.inc({ listener: this.listener, reason: "max_connections" });
    const now = Date.now();
    if (now - this.lastLogged >= LOG_EVERY_MS) {
      this.lastLogged = now;
      log.warn(
        { listener: this.listener, maxConnections: this.cap },
        "connection refused: the listener is at limits.maxConnections (counted in attache_listener_refusals_total)",
      );
    }
    socket.on("error", () => socket.destroy());
    respondErrorOnSocket(
      socket,
      new AttacheError("overloaded", `the ${this.listener} listener is at its connection limit (limits.maxConnections: ${this.cap})`),
    );
    // Read and drop what the client sent: closing with unread bytes resets the connection, and a reset
    // can discard the 503 before the client reads it. The client closes once it has the answer.
    socket.resume();
    socket.once("end", () => socket.destroy());
    socket.setTimeout(LINGER_MS, () => socket.destroy());
  }

  /** The head timed out or did not parse: answer from the error table (where nothing else is being sent), then close. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const error =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new AttacheError(
            "request_timeout",
            `the request did not arrive in time (limits.headersTimeout: ${this.server.headersTimeout} ms for its head)`,
          )
        : err.code === "HPE_HEADER_OVERFLOW"
          ? new AttacheError("headers_too_large", "the request head is larger than 16 KiB")
          : err.code?.startsWith("HPE_")
            ? new AttacheError("bad_request", `malformed HTTP request (${err.code})`)
            : undefined;
    // Anything else is the client resetting or going away: nobody to answer.
    if (error) {
      metrics.listenerRefusals.inc({ listener: this.listener, reason: error.code });
      // As node:http's default: no raw answer into a response already under way on this connection.
      const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (socket.writable && !inFlight?.headersSent) respondErrorOnSocket(socket, error);
    }
    socket.destroy();
  }
}
