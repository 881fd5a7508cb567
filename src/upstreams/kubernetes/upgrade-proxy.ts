/**
 * Upgrade requests to the API server passed through raw, whatever the protocol: WebSocket
 * (v5.channel.k8s.io, kubectl >= 1.30) and SPDY/3.1 (older clients, POST with `Upgrade: SPDY/3.1`),
 * as kubectl proxy's UpgradeAwareHandler does. http-proxy (under HttpUpstream.upgrade) destroys any
 * upgrade that is not a GET WebSocket, so the kubernetes upstream carries its own: one request to the
 * API server, then on 101 the two sockets are piped; any other answer is relayed as it came.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type AgentOptions } from "node:https";
import type { Duplex } from "node:stream";
import type { Endpoint } from "../../discovery/endpoint-source.js";

export interface UpgradeTarget {
  endpoint: Endpoint;
  tls: AgentOptions;
  headers: OutgoingHttpHeaders;
  /** Path and query, endpoint base path included. */
  path: string;
  /** Until the API server answers (the route timeout); the upgraded stream itself has none. */
  timeout: number;
  connectTimeout: number;
}

/** Resolves once the exchange is under way or answered; rejects (nothing written yet) when the API server cannot be reached. */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: UpgradeTarget): Promise<void> {
  const { endpoint } = target;
  const https = endpoint.protocol === "https:";
  return new Promise((resolve, reject) => {
    const proxyReq = (https ? httpsRequest : httpRequest)({
      host: endpoint.host,
      port: endpoint.port,
      method: req.method,
      path: target.path,
      headers: { ...target.headers, host: endpoint.authority },
      // A socket that upgrades leaves any pool; a fresh one keeps the route's keep-alive pool intact.
      agent: false,
      ...(https ? target.tls : {}),
    });
    let answered = false;
    const timer = setTimeout(
      () => proxyReq.destroy(Object.assign(new Error(`no answer to the upgrade in ${target.timeout}ms`), { code: "EDEADLINE" })),
      target.timeout,
    );
    proxyReq.once("socket", (s) => {
      if (!s.connecting) return;
      const connect = setTimeout(
        () =>
          proxyReq.destroy(Object.assign(new Error(`connect timed out after ${target.connectTimeout}ms`), { code: "ECONNECT_TIMEOUT" })),
        target.connectTimeout,
      );
      s.once(https ? "secureConnect" : "connect", () => clearTimeout(connect));
      s.once("close", () => clearTimeout(connect));
    });
    const onClientGone = () => proxyReq.destroy();
    socket.once("close", onClientGone);

    proxyReq.once("error", (err) => {
      clearTimeout(timer);
      socket.off("close", onClientGone);
      if (answered) socket.destroy();
      else reject(err);
    });

    proxyReq.once("upgrade", (res, upstream, upstreamHead) => {
      answered = true;
      clearTimeout(timer);
      socket.off("close", onClientGone);
      socket.write(responseHead(res));
      if (upstreamHead.length) socket.write(upstreamHead);
      if (head.length) upstream.write(head);
      upstream.on("error", () => socket.destroy());
      socket.on("error", () => upstream.destroy());
      upstream.once("close", () => socket.destroy());
      socket.once("close", () => upstream.destroy());
      upstream.pipe(socket).pipe(upstream);
      resolve();
    });

    // Not upgraded (403 from RBAC, 400 from a bad query, ...): the API server's answer as it came.
    proxyReq.once("response", (res) => {
      answered = true;
      clearTimeout(timer);
      socket.write(responseHead(res, true));
      res.on("error", () => socket.destroy());
      res.pipe(socket);
      resolve();
    });

    proxyReq.end();
  });
}

/** Status line and headers as the API server sent them (rawHeaders keep order and duplicates). */
function responseHead(res: IncomingMessage, close = false): string {
  const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ""}`];
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (close && /^(connection|keep-alive|transfer-encoding)$/i.test(name)) continue;
    lines.push(`${name}: ${raw[i + 1]}`);
  }
  // A relayed non-101 answer is the last thing on this connection; its body is raw, so it ends with the socket.
  if (close) lines.push("connection: close");
  return `${lines.join("\r\n")}\r\n\r\n`;
}
