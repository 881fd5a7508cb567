/**
 * A tiny HTTP client for tests: sends the request target exactly as given (no URL normalisation, which
 * fetch would do), lets a test set Host, and reads the whole answer. One fresh connection per call
 * unless an agent is passed.
 */
import { request, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import type { Readable } from "node:stream";

export interface Answer<Body = unknown> {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON; `Body` is the shape the test expects (`send<Echo>(…)`). */
  json: Body;
}

/** The JSON body of an error attache made (see src/errors.ts). */
export interface AttacheErrorBody {
  error: { code: string; message: string; route?: string };
}

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer | Readable;
  agent?: Agent | false;
}

/** `base` is "http://127.0.0.1:PORT"; `target` the raw request target ("/a/%2e%2e/b?x"). */
export function send<Body = unknown>(base: string, target: string, options: SendOptions = {}): Promise<Answer<Body>> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? "GET",
        path: target,
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: json as Body });
        });
      },
    );
    req.on("error", reject);
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** Write raw bytes on a fresh TCP connection and return everything the server sends until it closes (bounded). */
export function sendRaw(base: string, bytes: string | Buffer, waitMs = 1000): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    socket.write(bytes);
  });
}

/** Poll `probe` until it returns a truthy value, at most `ms` (bounded waits, no bare sleeps). */
export async function eventually<T>(probe: () => Promise<T> | T, ms = 3000, every = 20): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** A metric sample's value from Prometheus text, or undefined. `labels` like 'route="/api",code="200"' (a substring match). */
export function metricValue(text: string, name: string, labels = ""): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    if (labels && !rest.includes(labels)) continue;
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

export interface RawConnection {
  socket: Socket;
  /** Everything received so far, as latin1. */
  received(): string;
  /** Resolves with everything received once the server closes the connection; rejects after `ms`. */
  closed(ms: number): Promise<string>;
}

/** A raw TCP connection to write by hand (slow heads, early answers); the test destroys it if still open. */
export async function openRaw(base: string): Promise<RawConnection> {
  const url = new URL(base);
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.on("error", () => {});
  const closing = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  void closing.then(() => (isClosed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const received = () => Buffer.concat(chunks).toString("latin1");
  return {
    socket,
    received,
    closed: (ms) =>
      isClosed
        ? Promise.resolve(received())
        : new Promise((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`connection still open after ${ms}ms; received: ${JSON.stringify(received())}`)),
              ms,
            );
            void closing.then(() => {
              clearTimeout(timer);
              resolve(received());
            });
          }),
  };
}
