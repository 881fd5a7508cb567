/** One GET of a Kubernetes API list or watch, and the reading of its answer: JSON body, Status message, watch events. */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest, type Agent } from "node:https";
import type { EndpointSliceJson } from "./endpointslice-endpoints.js";

/**
 * Server-side watch timeout (`timeoutSeconds`), spread like client-go's (5–10 min) so that many
 * sidecars restarted together do not re-watch in step. The client gives up on a silent watch
 * `KUBE_WATCH_IDLE_SLACK` after that.
 */
export const KUBE_WATCH_TIMEOUT_SECONDS = [300, 600] as const;
export const KUBE_WATCH_IDLE_SLACK = 30_000;
/** A list must answer within this. */
export const KUBE_LIST_TIMEOUT = 10_000;

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: EndpointSliceJson & { code?: number; message?: string; reason?: string };
}

/** 410 Gone: the resourceVersion was compacted away; only a relist can resume. */
export class GoneError extends Error {
  readonly code = "EGONE";
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * GET `path` on `server`; resolves with a 200 response (body unread), rejects with GoneError on 410 and
 * HttpStatusError on any other status. `track` receives how to abort the request while it is under way.
 */
export async function kubeApiGet(
  server: string,
  path: string,
  headers: OutgoingHttpHeaders,
  agent: Agent | undefined,
  timeout: number,
  streaming: boolean,
  track: (abort: () => void) => void,
): Promise<IncomingMessage> {
  const url = new URL(server.replace(/\/+$/, "") + path);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { method: "GET", headers, ...(url.protocol === "https:" ? { agent } : {}), timeout });
    track(() => req.destroy(new Error("closed")));
    req.once("timeout", () => req.destroy(new Error(`${streaming ? "watch" : "list"} timed out after ${timeout}ms`)));
    req.once("error", reject);
    req.once("response", resolve);
    req.end();
  });
  const status = res.statusCode ?? 0;
  if (status === 200) return res;
  const text = await readBody(res);
  if (status === 410) throw new GoneError(statusMessage(text) ?? "resourceVersion too old");
  throw new HttpStatusError(status, `GET ${url.pathname}: ${status} ${statusMessage(text) ?? res.statusMessage ?? ""}`.trim());
}

/** Reads watch events until the stream ends; rejects with what `onEvent` throws, or when the stream breaks. */
export function readWatchEvents(res: IncomingMessage, onEvent: (event: WatchEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let failed = false;
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      if (failed) return;
      buffer += chunk;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        try {
          onEvent(JSON.parse(line) as WatchEvent);
        } catch (err) {
          failed = true;
          res.destroy();
          reject(err);
          return;
        }
      }
    });
    res.once("end", () => {
      if (!failed) resolve();
    });
    res.once("error", (err) => {
      if (!failed) reject(err);
    });
    res.once("close", () => {
      if (!failed && !res.complete) reject(new Error("watch connection closed"));
    });
  });
}

export function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (text += c));
    res.once("end", () => resolve(text));
    res.once("error", reject);
  });
}

/** The `message` of a Kubernetes Status body, if that is what it is. */
function statusMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { kind?: string; message?: string };
    return body.kind === "Status" ? body.message : undefined;
  } catch {
    return undefined;
  }
}
