/**
 * Requests a web page sends from another origin (CSRF, cross-site WebSocket): a "simple" POST needs
 * no CORS preflight, so without this any page in the laptop's browser could write through attache.
 * The rule is Go's net/http CrossOriginProtection: Sec-Fetch-Site when the browser sends it, else
 * Origin against Host; a request with neither is not from a browser page and passes.
 */
import type { IncomingMessage } from "node:http";
import { AttacheError } from "../errors.js";
import type { PendingRequest } from "./pending-request.js";

/** Reads cannot be seen cross-origin without CORS headers, which attache never adds. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function fromOtherOrigin(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) return site !== "same-origin" && site !== "none";
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host?.toLowerCase();
  } catch {
    return true; // "null": a sandboxed or privacy-sensitive context
  }
}

/** Pipeline step: state-changing requests from another origin's page → origin_not_allowed. */
export function refuseCrossOrigin(request: PendingRequest): void {
  if (SAFE_METHODS.has(request.req.method ?? "GET")) return;
  if (fromOtherOrigin(request.req)) throw crossOrigin();
}

/** Upgrade step: a WebSocket opened by another origin's page would read and write as the app. */
export function refuseCrossOriginUpgrade(request: PendingRequest): void {
  if (fromOtherOrigin(request.req)) throw crossOrigin();
}

function crossOrigin(): AttacheError {
  return new AttacheError("origin_not_allowed", "requests from another origin's web page are refused (Origin, Sec-Fetch-Site)");
}
