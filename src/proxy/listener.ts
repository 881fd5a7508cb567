/** The app-facing HTTP listener: a plain node:http server whose handler is the pipeline. */
import { createServer, type Server } from "node:http";
import type { State } from "../lifecycle/generation.js";
import { HTTP_SERVER_OPTIONS } from "./guard-listener.js";
import { handleRequest, handleUpgrade } from "./pipeline.js";

export function createProxyServer(state: State): Server {
  const server = createServer(HTTP_SERVER_OPTIONS);
  server.on("request", (req, res) => handleRequest(state, req, res));
  // With this listener Node no longer answers `100 Continue` by itself: the pipeline does, once the route allows the body.
  server.on("checkContinue", (req, res) => handleRequest(state, req, res, true));
  server.on("upgrade", (req, socket, head) => handleUpgrade(state, req, socket, head));
  return server;
}
