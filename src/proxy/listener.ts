/** The app-facing HTTP listener: a plain node:http server whose handler is the pipeline. */
import { createServer, type Server } from "node:http";
import type { State } from "../lifecycle/generation.js";
import { handleRequest, handleUpgrade } from "./pipeline.js";

export function createProxyServer(state: State): Server {
  const server = createServer({
    // The app is local and trusted; a long upload or a slow producer must not be cut by Node's 300s default.
    requestTimeout: 0,
    keepAliveTimeout: 30_000,
  });
  server.on("request", (req, res) => handleRequest(state, req, res));
  server.on("upgrade", (req, socket, head) => handleUpgrade(state, req, socket, head));
  return server;
}
