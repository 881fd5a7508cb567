/** How the admin endpoints answer: a whole body with its length, in one write. */
import type { IncomingMessage, ServerResponse } from "node:http";

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export function sendText(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendText(res, status, JSON.stringify(value), "application/json; charset=utf-8");
}
