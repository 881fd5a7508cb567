/**
 * Request bodies of the Redis HTTP API, bounded: read within the route timeout and a byte limit, and
 * JSON commands checked as their bytes arrive (json-commands.ts), so that a body with a million
 * arguments is refused after the first arguments past the limit, not after JSON.parse built them all
 * (see README, Redis section).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { AttacheError } from "../../../errors.js";
import { CommandScanner, tooLarge } from "./json-commands.js";

export interface BodyBounds {
  /** Largest body, in bytes. */
  maxBytes: number;
  /** Arguments (and, in a pipeline, commands) per request. */
  maxArgs: number;
  /** Largest argument once decoded, in bytes. */
  maxBulkLength: number;
  /** When the whole body must have arrived (performance.now() time, as RequestContext.startedAt). */
  deadline: number;
  /** The route's timeout, for the message. */
  timeout: number;
}

/** The body, whole; body_too_large past `maxBytes`, upstream_timeout past the deadline (then the connection closes). */
export function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  bounds: BodyBounds,
  scan?: (chunk: Buffer) => void,
): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > bounds.maxBytes)
    return Promise.reject(tooLarge(route, `request body is larger than ${bounds.maxBytes} bytes`));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const done = (err: Error | undefined) => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
      if (!err) return resolve(Buffer.concat(chunks, bytes));
      // The rest of the body is not read: the connection cannot carry another request.
      req.pause();
      if (!res.headersSent) res.setHeader("connection", "close");
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > bounds.maxBytes) return done(tooLarge(route, `request body is larger than ${bounds.maxBytes} bytes`));
      try {
        scan?.(chunk);
      } catch (err) {
        return done(err as Error);
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(undefined);
    const onError = (err: Error) => done(err);
    const onAborted = () => done(Object.assign(new Error("client went away"), { code: "ECONNRESET" }));
    const timer = setTimeout(
      () =>
        done(
          new AttacheError(
            "upstream_timeout",
            `route ${route}: the request body did not arrive within the route timeout (${bounds.timeout} ms)`,
            { route },
          ),
        ),
      Math.max(0, bounds.deadline - performance.now()),
    );
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

/** The commands of a JSON body: `single` for {"command": ...}, else a pipeline. */
export interface JsonCommands {
  single: boolean;
  commands: Buffer[][];
}

/** Read, scan and decode a JSON command body (see the file comment). */
export async function readJsonCommands(
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  bounds: BodyBounds,
): Promise<JsonCommands> {
  const scanner = new CommandScanner(route, bounds.maxArgs);
  const body = await readBody(req, res, route, bounds, (chunk) => scanner.feed(chunk));
  scanner.end();
  return { single: scanner.single, commands: await scanner.decode(body, bounds.maxBulkLength) };
}
