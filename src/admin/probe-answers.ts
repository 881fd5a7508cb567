/**
 * The plain-text /healthz and /readyz answers, written without express: probes, and the first
 * /readyz of a start, do not wait for express to load (admin-server.ts, probe-server.ts load it
 * on the first other request). The bytes and headers are those express's res.send writes.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { State } from "../lifecycle/generation.js";
import { respondError } from "../http/respond-error.js";
import { readiness } from "./health.js";

interface PlainAnswer {
  body: Buffer;
  /** express's default ETag (the etag package, weak): W/"<length in hex>-<sha1 base64, 27 chars>". */
  etag: string;
}

function plain(text: string): PlainAnswer {
  const body = Buffer.from(text);
  return { body, etag: `W/"${body.length.toString(16)}-${createHash("sha1").update(body).digest("base64").slice(0, 27)}"` };
}

const ANSWERS: Record<"ok" | ReturnType<typeof readiness>["status"], PlainAnswer> = {
  ok: plain("ok\n"),
  ready: plain("ready\n"),
  draining: plain("draining\n"),
  starting: plain("starting\n"),
};

/**
 * Answers GET/HEAD /healthz and /readyz in plain text and returns true; returns false for express
 * to answer (everything else, conditional requests, and, when `verbose`, a /readyz with a query or
 * an Accept header that may ask for JSON). Paths match as express routes them: any case, one
 * optional trailing slash, any query.
 */
export function answerProbe(req: IncomingMessage, res: ServerResponse, state: State, verbose: boolean): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (req.headers["if-none-match"] !== undefined || req.headers["if-modified-since"] !== undefined) return false;
  const url = req.url ?? "";
  const q = url.indexOf("?");
  const path = (q === -1 ? url : url.slice(0, q)).toLowerCase();
  let answer: PlainAnswer;
  let status = 200;
  if (path === "/healthz" || path === "/healthz/") answer = ANSWERS.ok;
  else if (path === "/readyz" || path === "/readyz/") {
    const accept = req.headers.accept;
    if (verbose && (q !== -1 || (accept !== undefined && accept !== "*/*"))) return false;
    const r = readiness(state);
    answer = ANSWERS[r.status];
    status = r.ready ? 200 : 503;
  } else return false;
  // Spelled as express spells them.
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": answer.body.length, ETag: answer.etag });
  res.end(answer.body);
  return true;
}

/** A request listener loaded on its first request (and loaded again after a failed load). */
export function loadedOnFirstUse(load: () => Promise<RequestListener>): RequestListener {
  let listener: RequestListener | undefined;
  let loading: Promise<RequestListener> | undefined;
  return (req, res) => {
    if (listener) {
      listener(req, res);
      return;
    }
    loading ??= load().then(
      (l) => (listener = l),
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    );
    loading.then(
      (l) => l(req, res),
      (err: unknown) => respondError(res, err),
    );
  };
}
