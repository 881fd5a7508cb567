/**
 * The bench's fake Kubernetes API: HTTPS with its own CA, the bearer token checked on every request,
 * HTTP/2 and HTTP/1.1 offered by ALPN as kube-apiserver does (or HTTP/1.1 only with --http1), and
 * every answer precomputed so that the fake is not what a cell measures. HTTP/2 streams are answered
 * on the stream API (no compatibility objects), HTTP/1.1 requests on node:http's.
 *
 * GET /bench/connections (no token) lists the open TLS connections as {port, alpn, requests}, `port`
 * being the client's: bench.ts maps them to the process that holds them (ss -p), to show which
 * protocol each proxy chose and how many connections it opened.
 * Prints one line `FAKE_KUBE {json}` with what a client needs, then serves until killed.
 *   node --import tsx test/bench/servers/fake-kube.ts KUBECONFIG_PATH [--http1]
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { constants, createSecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { makeCertificates, pod, ServiceAccountVolume, status } from "../../harness/fake-kube-api.js";

const kubeconfig = process.argv[2] ?? "";
const http1Only = process.argv.includes("--http1");
const TOKEN = "bench-token";
const certs = makeCertificates();
const volume = new ServiceAccountVolume(mkdtempSync(join(tmpdir(), "bench-kube-sa-")), {
  token: TOKEN,
  "ca.crt": certs.caPem,
  namespace: "default",
});

interface Answer {
  status: number;
  body: Buffer;
}
const json = (status: number, value: unknown): Answer => ({ status, body: Buffer.from(JSON.stringify(value)) });
const podObject = {
  ...pod("web-1"),
  metadata: {
    name: "web-1",
    namespace: "default",
    uid: "0b6f5a51-2b0c-4b59-a5a6-6f3c3bd0b2a1",
    resourceVersion: "4242",
    creationTimestamp: "2026-01-01T00:00:00Z",
    labels: { app: "web" },
  },
};
const answers = new Map<string, Answer>([
  ["/api/v1/namespaces/default/pods/web-1", json(200, podObject)],
  ["/version", json(200, { major: "1", minor: "33", gitVersion: "v1.33.0-fake" })],
  ["/api", json(200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] })],
]);
const notFound = json(404, status(404, "NotFound", "the server could not find the requested resource"));
const unauthorized = json(401, status(401, "Unauthorized", "Unauthorized"));
const AUTH = `Bearer ${TOKEN}`;

/** Open TLS connections: the client's port → protocol and requests served. */
const open = new Map<number, { alpn: string; requests: number }>();

function answer(path: string | undefined, authorization: string | undefined): Answer {
  if (authorization !== AUTH) return unauthorized;
  const q = path?.indexOf("?") ?? -1;
  return answers.get(q >= 0 ? path!.slice(0, q) : (path ?? "")) ?? notFound;
}

function connectionsAnswer(): Answer {
  return json(
    200,
    [...open].map(([port, c]) => ({ port, ...c })),
  );
}

function count(socket: TLSSocket | undefined): void {
  const c = socket?.remotePort !== undefined ? open.get(socket.remotePort) : undefined;
  if (c) c.requests++;
}

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  count(req.socket as TLSSocket);
  const a = req.url === "/bench/connections" ? connectionsAnswer() : answer(req.url, req.headers.authorization);
  req.resume();
  res.writeHead(a.status, { "content-type": "application/json", "content-length": a.body.length });
  res.end(a.body);
}

function onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  count(stream.session?.socket as TLSSocket | undefined);
  const path = headers[constants.HTTP2_HEADER_PATH] as string | undefined;
  const a = path === "/bench/connections" ? connectionsAnswer() : answer(path, headers.authorization);
  stream.respond({ ":status": a.status, "content-type": "application/json", "content-length": a.body.length });
  stream.end(a.body);
}

const tls = { key: readFileSync(certs.serverKeyFile), cert: readFileSync(certs.serverCertFile) };
const server = http1Only
  ? createHttpsServer({ ...tls, keepAliveTimeout: 60_000 }, onRequest)
  : createSecureServer({ ...tls, allowHTTP1: true });
if (!http1Only) {
  // Adding a 'request' listener makes node:http2 build compatibility objects for every HTTP/2 stream as
  // well ('newListener' hook); HTTP/2 is answered on 'stream', so the hook goes before the listener.
  server.removeAllListeners("newListener");
  server.on("request", onRequest);
  server.on("stream", onStream);
}
server.on("secureConnection", (socket: TLSSocket) => {
  const port = socket.remotePort;
  if (port === undefined) return;
  open.set(port, { alpn: socket.alpnProtocol || "http/1.1", requests: 0 });
  socket.once("close", () => open.delete(port));
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `https://127.0.0.1:${port}`;
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake-cluster\n  cluster:\n    server: ${url}\n    certificate-authority: ${certs.caFile}\n` +
      `users:\n- name: fake-user\n  user:\n    token: ${TOKEN}\ncontexts:\n- name: fake\n  context:\n    cluster: fake-cluster\n    user: fake-user\n    namespace: default\n`,
  );
  process.stdout.write(
    `FAKE_KUBE ${JSON.stringify({ url, port, tokenFile: volume.tokenFile, caFile: certs.caFile, token: TOKEN, kubeconfig, protocols: http1Only ? ["http/1.1"] : ["h2", "http/1.1"] })}\n`,
  );
});
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
