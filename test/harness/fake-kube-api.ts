/**
 * An honest fake Kubernetes API server for tests: HTTPS with its own CA (made with openssl at test
 * time), the bearer token checked against a token file on every request (or a client certificate
 * signed by that CA), discovery, a generic object store with list + watch, pod logs with follow,
 * exec/attach/portforward upgrades that echo, Status errors, and injectable failures; and the parts of a
 * real kube-apiserver that simple fakes lack: an aggregated API that is down (`takeDown`), API Priority
 * and Fairness 429s with Retry-After (`throttle`), lists streamed slowly (`slowLists`), and
 * SelfSubjectReview answering as whoever the Impersonate-* headers name (impersonation echo).
 *
 * Like kube-apiserver it offers HTTP/2 and HTTP/1.1 by ALPN (`http2: false`: HTTP/1.1 only). Clients
 * reach it through a TCP relay in the same process, so that `silence()` can make the connections open
 * right now go quiet without a FIN or RST, as a server that vanished; `connections` counts TLS
 * connections and the protocol each one chose.
 *
 * The store is generic (group/version/kind/namespace, label and field selectors, resourceVersion,
 * watch from a resourceVersion with 410 Gone when too old), so discovery tests can add EndpointSlices:
 *   fake.store.define({ group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", namespaced: true });
 *   fake.store.apply({ apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name, namespace, labels }, ... });
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createSecureServer, type Http2Session } from "node:http2";
import { createServer } from "node:https";
import { createServer as createTcpServer, connect as tcpConnect, type Server as TcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { Server, TLSSocket } from "node:tls";
import { WebSocketServer } from "ws";
import { closeServer, listenOn } from "./listen.js";

// ---------------------------------------------------------------- certificates

export interface Certificates {
  dir: string;
  caFile: string;
  caPem: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A client certificate signed by the CA, CN=alice, O=dev (kubeconfig client-certificate auth). */
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA that did not sign the server's certificate (the "wrong CA" case). */
  otherCaFile: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate and an unrelated CA, in a new temp dir. */
export function makeCertificates(dir = mkdtempSync(join(tmpdir(), "fake-kube-certs-"))): Certificates {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=fake-kube-ca");
  ssl("req", "-x509", ...ec, "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=some-other-ca");
  const sign = (name: string, subject: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    ssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      String(Date.now() + name.length),
      "-days",
      "2",
      "-out",
      `${name}.crt`,
      "-extfile",
      `${name}.ext`,
    );
  };
  sign(
    "server",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n",
  );
  sign("client", "/O=dev/CN=alice", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    caPem: readFileSync(join(dir, "ca.crt"), "utf8"),
    serverCertFile: join(dir, "server.crt"),
    serverKeyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.crt"),
    clientKeyFile: join(dir, "client.key"),
    otherCaFile: join(dir, "other-ca.crt"),
  };
}

// ---------------------------------------------------------------- service-account volume

/**
 * A projected service-account volume laid out as the kubelet does: files live in a timestamped
 * folder, `..data` points at it, and `token`, `ca.crt`, `namespace` are symlinks through `..data`.
 * `rotate()` swaps `..data` atomically (rename over the old symlink), as the kubelet's AtomicWriter.
 */
export class ServiceAccountVolume {
  private generation = 0;
  private current: string | undefined;

  constructor(
    readonly dir: string,
    private files: { token: string; "ca.crt": string; namespace: string },
  ) {
    mkdirSync(dir, { recursive: true });
    this.write();
    for (const name of Object.keys(files)) symlinkSync(join("..data", name), join(dir, name));
  }

  get tokenFile(): string {
    return join(this.dir, "token");
  }

  get caFile(): string {
    return join(this.dir, "ca.crt");
  }

  get token(): string {
    return this.files.token;
  }

  /** Replace the token (and optionally the other files) the kubelet way. */
  rotate(token: string, other: Partial<{ "ca.crt": string; namespace: string }> = {}): void {
    this.files = { ...this.files, ...other, token };
    this.write();
  }

  private write(): void {
    const stamp = `..${new Date().toISOString().replace(/[-:T]/g, "_").replace("Z", "")}_${++this.generation}`;
    const folder = join(this.dir, stamp);
    mkdirSync(folder);
    for (const [name, text] of Object.entries(this.files)) writeFileSync(join(folder, name), text);
    const tmp = join(this.dir, "..data_tmp");
    symlinkSync(stamp, tmp);
    renameSync(tmp, join(this.dir, "..data"));
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true, force: true });
    this.current = stamp;
  }
}

// ---------------------------------------------------------------- the store

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";
export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
}

export interface Selection {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
}

interface Change extends WatchEvent {
  rv: number;
  typeKey: string;
}

/** How many past changes a watch may resume from; older resourceVersions get 410 Gone. */
const HISTORY = 1000;

/** Objects by type and namespace/name, one resourceVersion counter, list and watch. */
export class ResourceStore {
  private rv = 1000;
  private uid = 0;
  private readonly byType = new Map<string, ResourceType>();
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history: Change[] = [];
  private readonly changes = new EventEmitter().setMaxListeners(0);

  get resourceVersion(): string {
    return String(this.rv);
  }

  define(type: ResourceType): void {
    const key = typeKey(type.group, type.version, type.plural);
    this.byType.set(key, type);
    if (!this.objects.has(key)) this.objects.set(key, new Map());
  }

  types(): ResourceType[] {
    return [...this.byType.values()];
  }

  type(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byType.get(typeKey(group, version, plural));
  }

  /** Create or replace; returns the stored copy (resourceVersion, uid, creationTimestamp set). */
  apply(object: KubeObject): KubeObject {
    const type = this.typeOf(object);
    const bucket = this.objects.get(typeKey(type.group, type.version, type.plural))!;
    const id = objectId(object.metadata.namespace, object.metadata.name);
    const prior = bucket.get(id);
    const stored: KubeObject = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.rv);
    stored.metadata.uid = prior?.metadata.uid ?? `00000000-0000-4000-8000-${String(++this.uid).padStart(12, "0")}`;
    stored.metadata.creationTimestamp = prior?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, "Z");
    bucket.set(id, stored);
    this.record(type, prior ? "MODIFIED" : "ADDED", stored);
    return stored;
  }

  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const type = this.typeOf({ apiVersion, kind, metadata: { name } });
    const bucket = this.objects.get(typeKey(type.group, type.version, type.plural))!;
    const id = objectId(namespace, name);
    const prior = bucket.get(id);
    if (!prior) return undefined;
    bucket.delete(id);
    const gone = structuredClone(prior);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record(type, "DELETED", gone);
    return gone;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(typeKey(type.group, type.version, type.plural))?.get(objectId(namespace, name));
  }

  list(type: ResourceType, selection: Selection = {}): { items: KubeObject[]; resourceVersion: string } {
    const bucket = this.objects.get(typeKey(type.group, type.version, type.plural)) ?? new Map<string, KubeObject>();
    const match = matcher(selection);
    const items = [...bucket.values()]
      .filter(match)
      .sort((a, b) => objectId(a.metadata.namespace, a.metadata.name).localeCompare(objectId(b.metadata.namespace, b.metadata.name)));
    return { items: structuredClone(items), resourceVersion: this.resourceVersion };
  }

  /**
   * Events for this type and selection after `resourceVersion` (history, then live), or, without one
   * (or "0"), a synthetic ADDED per current object, then live. Throws `Gone` when the version is too old.
   */
  watch(
    type: ResourceType,
    selection: Selection & { resourceVersion?: string | undefined },
    onEvent: (event: WatchEvent) => void,
  ): () => void {
    const key = typeKey(type.group, type.version, type.plural);
    const match = matcher(selection);
    const from = selection.resourceVersion && selection.resourceVersion !== "0" ? Number(selection.resourceVersion) : undefined;
    if (from !== undefined) {
      const oldest = this.history[0]?.rv ?? this.rv + 1;
      if (from < oldest - 1 && from < this.rv) throw new Gone(from);
      for (const change of this.history)
        if (change.rv > from && change.typeKey === key && match(change.object))
          onEvent({ type: change.type, object: structuredClone(change.object) });
    } else {
      for (const object of this.list(type, selection).items) onEvent({ type: "ADDED", object });
    }
    const listener = (change: Change) => {
      if (change.typeKey === key && match(change.object)) onEvent({ type: change.type, object: structuredClone(change.object) });
    };
    this.changes.on("change", listener);
    return () => this.changes.off("change", listener);
  }

  private record(type: ResourceType, kind: WatchEventType, object: KubeObject): void {
    const change: Change = {
      rv: this.rv,
      typeKey: typeKey(type.group, type.version, type.plural),
      type: kind,
      object: structuredClone(object),
    };
    this.history.push(change);
    if (this.history.length > HISTORY) this.history.shift();
    this.changes.emit("change", change);
  }

  private typeOf(object: Pick<KubeObject, "apiVersion" | "kind"> & { metadata: { name: string } }): ResourceType {
    const [group, version] = object.apiVersion.includes("/") ? (object.apiVersion.split("/") as [string, string]) : ["", object.apiVersion];
    const type = [...this.byType.values()].find((t) => t.group === group && t.version === version && t.kind === object.kind);
    if (!type) throw new Error(`fake-kube-api: no resource type defined for ${object.apiVersion} ${object.kind}`);
    return type;
  }
}

export class Gone extends Error {
  constructor(readonly rv: number) {
    super(`too old resource version: ${rv}`);
  }
}

function typeKey(group: string, version: string, plural: string): string {
  return `${group}/${version}/${plural}`;
}

function objectId(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

/** Equality-based label selectors (k=v, k==v, k!=v, k, !k) and metadata.name / metadata.namespace field selectors. */
function matcher(selection: Selection): (o: KubeObject) => boolean {
  const labels = (selection.labelSelector ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const fields = (selection.fieldSelector ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return (o) => {
    if (selection.namespace !== undefined && o.metadata.namespace !== selection.namespace) return false;
    const have = o.metadata.labels ?? {};
    for (const term of labels) {
      const ne = term.match(/^([^!=]+)!=(.*)$/);
      const eq = term.match(/^([^!=]+)==?(.*)$/);
      if (ne) {
        if (have[ne[1]!.trim()] === ne[2]!.trim()) return false;
      } else if (eq) {
        if (have[eq[1]!.trim()] !== eq[2]!.trim()) return false;
      } else if (term.startsWith("!")) {
        if (term.slice(1) in have) return false;
      } else if (!(term in have)) return false;
    }
    for (const term of fields) {
      const m = term.match(/^([^!=]+)(!=|==?)(.*)$/);
      if (!m) return false;
      const value = m[1] === "metadata.name" ? o.metadata.name : m[1] === "metadata.namespace" ? o.metadata.namespace : undefined;
      if ((m[2] === "!=") === (value === m[3])) return false;
    }
    return true;
  };
}

// ---------------------------------------------------------------- objects

export function pod(name: string, namespace = "default", phase = "Running", labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: "app", image: "example/app:1" }] },
    status: { phase, containerStatuses: [{ name: "app", ready: phase === "Running", restartCount: 0 }] },
  };
}

export function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}

// ---------------------------------------------------------------- the server

export interface RecordedRequest {
  method: string;
  url: string;
  /** Who the request authenticated as ("system:anonymous" when it did not). */
  user: string;
  status: number;
  /** The Authorization header arrived with a Bearer token that was not the current one. */
  staleToken: boolean;
  headers: IncomingMessage["headers"];
}

export interface InjectedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface FakeKubeApiOptions {
  certs?: Certificates;
  /** Where the service-account volume is laid out (default: a new temp dir). */
  dir?: string;
  token?: string;
  namespace?: string;
  /** Seed pods in "default" (default: web-1, web-2). */
  pods?: KubeObject[];
  /** Interval between log lines on `follow=true`. */
  logInterval?: number;
  /** Offer HTTP/2 by ALPN besides HTTP/1.1, as kube-apiserver does (default true). */
  http2?: boolean;
}

export interface FakeKubeApi {
  url: string;
  port: number;
  certs: Certificates;
  /** The kubelet-style service-account volume whose `token` file the server checks on every request. */
  volume: ServiceAccountVolume;
  store: ResourceStore;
  requests: RecordedRequest[];
  /** Open watch and follow streams right now. */
  readonly openStreams: number;
  /** Answer the next `count` requests whose "METHOD url" matches with this response instead. */
  inject(match: RegExp, response: InjectedResponse, count?: number): void;
  /** Run `hook` when the next `count` matching requests arrive, before they are authenticated (e.g. rotate the token under them). */
  before(match: RegExp, hook: () => void | Promise<void>, count?: number): void;
  /** Requests under /apis/GROUP/VERSION answer 503 ServiceUnavailable as kube-aggregator does when the API service behind it is down. */
  takeDown(groupVersion: string): void;
  /** The next `count` requests matching get API Priority and Fairness' 429 with `Retry-After: seconds`. */
  throttle(match: RegExp, retryAfterSeconds: number, count?: number): void;
  /** The next `count` lists (GET of a collection, not a watch) are written in pieces spread over `ms`. */
  slowLists(ms: number, count?: number): void;
  /** TLS connections accepted so far, with the protocol ALPN chose for each ("h2" or "http/1.1"). */
  readonly connections: string[];
  /** From now on, the connections open right now carry nothing either way and never close (no FIN, no RST). New ones work. */
  silence(): void;
  /** A kubeconfig for this server (token or client-certificate user), written to a file; returns its path. */
  writeKubeconfig(
    path: string,
    options?: { user?: "token" | "client-cert" | "none"; context?: string; caFile?: string; token?: string },
  ): string;
  close(): Promise<void>;
}

export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const certs = options.certs ?? makeCertificates();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "fake-kube-sa-"));
  const volume = new ServiceAccountVolume(dir, {
    token: options.token ?? "token-0",
    "ca.crt": certs.caPem,
    namespace: options.namespace ?? "default",
  });
  const store = new ResourceStore();
  store.define({ group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, shortNames: ["po"] });
  store.define({ group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false, shortNames: ["ns"] });
  store.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } });
  for (const p of options.pods ?? [pod("web-1"), pod("web-2")]) store.apply(p);

  const injected: Array<{ match: RegExp; response: InjectedResponse; left: number }> = [];
  const hooks: Array<{ match: RegExp; hook: () => void | Promise<void>; left: number }> = [];
  const requests: RecordedRequest[] = [];
  const streams = new Set<ServerResponse | Duplex>();
  const logInterval = options.logInterval ?? 50;
  const down = new Set<string>();
  const slow = { ms: 0, left: 0 };

  const tlsOptions = {
    key: readFileSync(certs.serverKeyFile),
    cert: readFileSync(certs.serverCertFile),
    ca: readFileSync(certs.caFile),
    requestCert: true,
    rejectUnauthorized: false,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const hook = hooks.find((h) => h.left > 0 && h.match.test(`${req.method} ${req.url}`));
    if (hook) {
      hook.left--;
      req.pause();
      void Promise.resolve(hook.hook()).then(() => handle(req, res));
    } else handle(req, res);
  };
  // The HTTP/2 compatibility API hands out objects that behave as IncomingMessage/ServerResponse for what the fake uses.
  const server: Server =
    options.http2 === false
      ? createServer(tlsOptions, onRequest)
      : (createSecureServer({ ...tlsOptions, allowHTTP1: true }, onRequest as never) as unknown as Server);
  const connections: string[] = [];
  const sockets = new Set<TLSSocket>();
  const sessions = new Set<Http2Session>();
  server.on("secureConnection", (socket: TLSSocket) => {
    connections.push(socket.alpnProtocol || "http/1.1");
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  function handle(req: IncomingMessage, res: ServerResponse): void {
    {
      const who = authenticate(req, volume);
      const record: RecordedRequest = {
        method: req.method ?? "GET",
        url: req.url ?? "/",
        user: who.user ?? "system:anonymous",
        status: 0,
        staleToken: who.stale,
        headers: req.headers,
      };
      requests.push(record);
      res.once("finish", () => (record.status = res.statusCode));
      res.once("close", () => (record.status ||= res.statusCode));
      const hit = injected.find((i) => i.left > 0 && i.match.test(`${record.method} ${record.url}`));
      if (hit) {
        hit.left--;
        const body =
          typeof hit.response.body === "string"
            ? hit.response.body
            : JSON.stringify(hit.response.body ?? status(hit.response.status, "InternalError", "injected"));
        res.writeHead(hit.response.status, { "content-type": "application/json", ...hit.response.headers });
        res.end(body);
        return;
      }
      if (!who.user) {
        sendStatus(res, status(401, "Unauthorized", "Unauthorized"));
        return;
      }
      if (req.method !== "POST") req.resume();
      try {
        serve(req, res);
      } catch (err) {
        sendStatus(res, status(500, "InternalError", (err as Error).message));
      }
    }
  }
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const who = authenticate(req, volume);
    requests.push({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      user: who.user ?? "system:anonymous",
      status: who.user ? 101 : 401,
      staleToken: who.stale,
      headers: req.headers,
    });
    socket.on("error", () => socket.destroy());
    if (!who.user) {
      socket.end(rawResponse(401, status(401, "Unauthorized", "Unauthorized")));
      return;
    }
    const target = parseTarget(new URL(req.url ?? "/", "https://fake"));
    if (!target?.subresource || !["exec", "attach", "portforward"].includes(target.subresource)) {
      socket.end(rawResponse(400, status(400, "BadRequest", "upgrade not supported here")));
      return;
    }
    streams.add(socket);
    socket.once("close", () => streams.delete(socket));
    const protocol = String(req.headers.upgrade ?? "").toLowerCase();
    if (protocol === "websocket") {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send(`${target.subresource} ${target.namespace}/${target.name}`);
        ws.on("message", (data, binary) => ws.send(data, { binary }));
      });
    } else if (protocol.startsWith("spdy/")) {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`,
      );
      socket.write(`${target.subresource} ${target.namespace}/${target.name}\n`);
      if (head.length) socket.write(head);
      socket.pipe(socket);
    } else {
      socket.end(rawResponse(400, status(400, "BadRequest", `unsupported upgrade ${protocol}`)));
    }
  });
  const wss = new WebSocketServer({ noServer: true });

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "https://fake");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path === "/version") {
      sendJson(res, 200, { major: "1", minor: "32", gitVersion: "v1.32.0-fake", platform: "linux/amd64" });
      return;
    }
    if (path === "/healthz" || path === "/readyz" || path === "/livez") {
      sendText(res, 200, "ok");
      return;
    }
    if (path === "/api" || path === "/api/") {
      sendJson(res, 200, {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `127.0.0.1:${port}` }],
      });
      return;
    }
    if (path === "/apis" || path === "/apis/") {
      sendJson(res, 200, groupList());
      return;
    }
    const groupVersion = path.match(/^\/apis\/([^/]+\/[^/]+)(?:\/|$)/)?.[1];
    if (groupVersion && down.has(groupVersion)) {
      sendStatus(res, status(503, "ServiceUnavailable", "the server is currently unable to handle the request"));
      return;
    }
    if (method === "POST" && /^\/apis\/authentication\.k8s\.io\/v1\/selfsubjectreviews\/?$/.test(path)) {
      selfSubjectReview(req, res);
      return;
    }
    const target = parseTarget(url);
    if (!target) {
      sendStatus(res, status(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    if (target.discovery) {
      const resources = store.types().filter((t) => t.group === target.group && t.version === target.version);
      if (!resources.length) {
        sendStatus(res, status(404, "NotFound", "the server could not find the requested resource"));
        return;
      }
      sendJson(res, 200, resourceList(target.group, target.version, resources));
      return;
    }
    const type = store.type(target.group, target.version, target.plural);
    if (!type) {
      sendStatus(res, status(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    const gr = type.group ? `${type.plural}.${type.group}` : type.plural;
    const q = url.searchParams;
    const selection: Selection = {
      namespace: target.namespace,
      labelSelector: q.get("labelSelector") ?? undefined,
      fieldSelector: q.get("fieldSelector") ?? undefined,
    };

    if (target.subresource) {
      const object = target.name ? store.get(type, target.namespace, target.name) : undefined;
      if (!object) {
        sendStatus(res, status(404, "NotFound", `${gr} "${target.name}" not found`, { name: target.name, kind: type.plural }));
        return;
      }
      if (target.subresource === "log" && type.plural === "pods") {
        podLog(req, res, object, isTrue(q.get("follow")));
        return;
      }
      if (["exec", "attach", "portforward"].includes(target.subresource)) {
        sendStatus(res, status(400, "BadRequest", "Upgrade request required"));
        return;
      }
      sendStatus(res, status(404, "NotFound", "the server could not find the requested resource"));
      return;
    }

    if (target.name) {
      const object = store.get(type, target.namespace, target.name);
      if (method === "DELETE") {
        if (!object) {
          sendStatus(res, status(404, "NotFound", `${gr} "${target.name}" not found`, { name: target.name, kind: type.plural }));
          return;
        }
        store.delete(object.apiVersion, object.kind, object.metadata.namespace, object.metadata.name);
        sendJson(res, 200, object);
        return;
      }
      if (method !== "GET") {
        sendStatus(res, status(405, "MethodNotAllowed", `${method} is not supported by the fake`));
        return;
      }
      if (!object) {
        sendStatus(res, status(404, "NotFound", `${gr} "${target.name}" not found`, { name: target.name, kind: type.plural }));
        return;
      }
      sendJson(res, 200, object);
      return;
    }

    if (method === "POST") {
      return void readBody(req).then((text) => {
        let object: KubeObject;
        try {
          object = JSON.parse(text) as KubeObject;
        } catch {
          return sendStatus(res, status(400, "BadRequest", "the body is not JSON"));
        }
        object.metadata = { ...object.metadata, ...(target.namespace ? { namespace: target.namespace } : {}) };
        if (store.get(type, object.metadata.namespace, object.metadata.name))
          return sendStatus(res, status(409, "AlreadyExists", `${gr} "${object.metadata.name}" already exists`));
        sendJson(res, 201, store.apply(object));
      });
    }
    if (method !== "GET") {
      sendStatus(res, status(405, "MethodNotAllowed", `${method} is not supported by the fake`));
      return;
    }
    if (isTrue(q.get("watch"))) {
      watch(req, res, type, { ...selection, resourceVersion: q.get("resourceVersion") ?? undefined }, Number(q.get("timeoutSeconds") ?? 0));
      return;
    }
    const list = store.list(type, selection);
    const wantsTable = /as=Table/.test(String(req.headers.accept ?? ""));
    const body = wantsTable
      ? table(type, list.items, list.resourceVersion)
      : {
          kind: `${type.kind}List`,
          apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
          metadata: { resourceVersion: list.resourceVersion },
          items: list.items,
        };
    if (slow.left > 0) {
      slow.left--;
      sendSlowly(res, JSON.stringify(body), slow.ms);
      return;
    }
    sendJson(res, 200, body);
  }

  /** Headers at once, then the body in ten pieces over `ms`, as a big list from etcd arrives. */
  function sendSlowly(res: ServerResponse, text: string, ms: number): void {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.flushHeaders();
    const bytes = Buffer.from(text);
    const pieces = 10;
    let n = 0;
    const timer = setInterval(() => {
      const end = n === pieces - 1 ? bytes.length : Math.floor(((n + 1) * bytes.length) / pieces);
      res.write(bytes.subarray(Math.floor((n * bytes.length) / pieces), end));
      if (++n === pieces) {
        clearInterval(timer);
        res.end();
      }
    }, ms / pieces);
    res.once("close", () => clearInterval(timer));
  }

  /** SelfSubjectReview (`kubectl auth whoami`): who the request authenticated as, or whom it impersonates. */
  function selfSubjectReview(req: IncomingMessage, res: ServerResponse): void {
    void readBody(req).then(() => {
      const h = req.headers;
      const who = authenticate(req, volume).user!;
      const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : v.split(",").map((x) => x.trim()));
      const extra = Object.fromEntries(
        Object.keys(h)
          .filter((k) => k.startsWith("impersonate-extra-"))
          .map((k) => [decodeURIComponent(k.slice("impersonate-extra-".length)), list(h[k])]),
      );
      const userInfo = h["impersonate-user"]
        ? {
            username: String(h["impersonate-user"]),
            groups: [...list(h["impersonate-group"]), "system:authenticated"],
            ...(h["impersonate-uid"] ? { uid: String(h["impersonate-uid"]) } : {}),
            ...(Object.keys(extra).length ? { extra } : {}),
          }
        : { username: who, groups: ["system:serviceaccounts", "system:authenticated"] };
      sendJson(res, 201, {
        kind: "SelfSubjectReview",
        apiVersion: "authentication.k8s.io/v1",
        metadata: { creationTimestamp: null },
        status: { userInfo },
      });
    });
  }

  function watch(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    selection: Selection & { resourceVersion?: string | undefined },
    timeoutSeconds: number,
  ): void {
    const wantsTable = /as=Table/.test(String(req.headers.accept ?? ""));
    let stop: (() => void) | undefined;
    const send = (event: WatchEvent) =>
      res.write(
        `${JSON.stringify({ type: event.type, object: wantsTable ? table(type, [event.object], event.object.metadata.resourceVersion ?? "", false) : event.object })}\n`,
      );
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache, private" });
    res.flushHeaders();
    streams.add(res);
    const end = () => {
      stop?.();
      streams.delete(res);
      clearTimeout(timer);
    };
    const timer = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
    res.once("close", end);
    try {
      stop = store.watch(type, selection, send);
    } catch (err) {
      if (err instanceof Gone) {
        res.end(`${JSON.stringify({ type: "ERROR", object: status(410, "Expired", err.message) })}\n`);
        return;
      }
      throw err;
    }
  }

  function podLog(req: IncomingMessage, res: ServerResponse, object: KubeObject, follow: boolean): void {
    res.writeHead(200, { "content-type": "text/plain" });
    let n = 0;
    const line = () => `${object.metadata.name} line ${++n}\n`;
    res.write(line());
    res.write(line());
    if (!follow) return void res.end(line());
    res.flushHeaders();
    streams.add(res);
    const timer = setInterval(() => res.write(line()), logInterval);
    res.once("close", () => {
      clearInterval(timer);
      streams.delete(res);
    });
    void req;
  }

  function groupList(): Record<string, unknown> {
    const groups = new Map<string, string[]>();
    for (const t of store.types()) if (t.group) groups.set(t.group, [...new Set([...(groups.get(t.group) ?? []), t.version])]);
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }

  // The TCP relay in front: each client connection is piped to the TLS server, until `silence()`.
  const tlsPort = await listenOn(server);
  const relays = new Set<{ client: Socket; upstream: Socket }>();
  const relay: TcpServer = createTcpServer((client) => {
    const upstream = tcpConnect(tlsPort, "127.0.0.1");
    const pair = { client, upstream };
    relays.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      relays.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).once("close", end);
    upstream.on("error", end).once("close", end);
  });
  const port = await listenOn(relay);
  const url = `https://127.0.0.1:${port}`;

  return {
    url,
    port,
    certs,
    volume,
    store,
    requests,
    get openStreams() {
      return streams.size;
    },
    inject(match, response, count = 1) {
      injected.push({ match, response, left: count });
    },
    before(match, hook, count = 1) {
      hooks.push({ match, hook, left: count });
    },
    takeDown(groupVersion) {
      down.add(groupVersion);
    },
    throttle(match, retryAfterSeconds, count = 1) {
      const body = status(429, "TooManyRequests", "Too many requests, please try again later.", { retryAfterSeconds });
      injected.push({
        match,
        response: {
          status: 429,
          headers: {
            "retry-after": String(retryAfterSeconds),
            "x-kubernetes-pf-flowschema-uid": "fake-flowschema",
            "x-kubernetes-pf-prioritylevel-uid": "fake-prioritylevel",
          },
          body,
        },
        left: count,
      });
    },
    slowLists(ms, count = 1) {
      slow.ms = ms;
      slow.left = count;
    },
    connections,
    silence() {
      for (const { client, upstream } of relays) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        // Read and drop: nothing is answered, and nothing backs up into a close.
        client.removeAllListeners("data").on("data", () => {});
        upstream.removeAllListeners("data").on("data", () => {});
      }
    },
    writeKubeconfig(path, opts = {}) {
      const userKind = opts.user ?? "token";
      const context = opts.context ?? "fake";
      const user =
        userKind === "token"
          ? `    token: ${opts.token ?? volume.token}\n`
          : userKind === "client-cert"
            ? `    client-certificate: ${certs.clientCertFile}\n    client-key: ${certs.clientKeyFile}\n`
            : "    {}\n";
      writeFileSync(
        path,
        `apiVersion: v1\nkind: Config\ncurrent-context: ${context}\nclusters:\n- name: fake-cluster\n  cluster:\n    server: ${url}\n    certificate-authority: ${opts.caFile ?? certs.caFile}\n` +
          `users:\n- name: fake-user\n  user:\n${user}contexts:\n- name: ${context}\n  context:\n    cluster: fake-cluster\n    user: fake-user\n    namespace: default\n`,
      );
      return path;
    },
    async close() {
      for (const s of streams) s.destroy();
      wss.close();
      for (const { client, upstream } of relays) {
        client.destroy();
        upstream.destroy();
      }
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await Promise.all([closeServer(relay), closeServer(server)]);
    },
  };
}

/** Who is this? A valid client certificate, else a bearer token equal to the token file's content right now. */
function authenticate(req: IncomingMessage, volume: ServiceAccountVolume): { user: string | undefined; stale: boolean } {
  const socket = req.socket as TLSSocket;
  if (socket.authorized) {
    const cert = socket.getPeerCertificate();
    const cn = cert?.subject?.CN;
    if (cn) return { user: Array.isArray(cn) ? cn[0]! : cn, stale: false };
  }
  const header = req.headers.authorization ?? "";
  const m = header.match(/^Bearer\s+(.+)$/i);
  if (!m) return { user: undefined, stale: false };
  let current = "";
  try {
    current = readFileSync(volume.tokenFile, "utf8").trim();
  } catch {
    return { user: undefined, stale: true };
  }
  return m[1]!.trim() === current ? { user: "system:serviceaccount:default:app", stale: false } : { user: undefined, stale: true };
}

interface Target {
  discovery: boolean;
  group: string;
  version: string;
  namespace: string | undefined;
  plural: string;
  name: string | undefined;
  subresource: string | undefined;
}

/** /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] and /apis/GROUP/VERSION/... */
function parseTarget(url: URL): Target | undefined {
  const segs = url.pathname.split("/").filter(Boolean);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === "api" && segs[1]) {
    group = "";
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === "apis" && segs[1] && segs[2]) {
    group = segs[1];
    version = segs[2];
    rest = segs.slice(3);
  } else return undefined;
  if (rest.length === 0)
    return { discovery: true, group, version, namespace: undefined, plural: "", name: undefined, subresource: undefined };
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 3) return undefined;
  return { discovery: false, group, version, namespace, plural: rest[0]!, name: rest[1], subresource: rest[2] };
}

function resourceList(group: string, version: string, types: ResourceType[]): Record<string, unknown> {
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/${version}` : version,
    resources: types.flatMap((t) => [
      {
        name: t.plural,
        singularName: t.kind.toLowerCase(),
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["create", "delete", "get", "list", "watch"],
        ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      },
      ...(t.plural === "pods"
        ? ["exec", "attach", "portforward", "log"].map((sub) => ({
            name: `pods/${sub}`,
            singularName: "",
            namespaced: true,
            kind: sub === "log" ? "Pod" : "PodExecOptions",
            verbs: ["create", "get"],
          }))
        : []),
    ]),
  };
}

/** The server-side Table kubectl asks for (Accept: as=Table), with the columns `kubectl get pods` prints. */
function table(type: ResourceType, items: KubeObject[], resourceVersion: string, withDefinitions = true): Record<string, unknown> {
  const isPod = type.plural === "pods";
  const columns = isPod
    ? [
        { name: "Name", type: "string", format: "name", description: "Name", priority: 0 },
        { name: "Ready", type: "string", format: "", description: "ready containers", priority: 0 },
        { name: "Status", type: "string", format: "", description: "phase", priority: 0 },
        { name: "Restarts", type: "string", format: "", description: "restarts", priority: 0 },
        { name: "Age", type: "string", format: "", description: "age", priority: 0 },
      ]
    : [
        { name: "Name", type: "string", format: "name", description: "Name", priority: 0 },
        { name: "Age", type: "string", format: "", description: "age", priority: 0 },
      ];
  const rows = items.map((o) => {
    const statuses =
      (o.status as { containerStatuses?: Array<{ ready: boolean; restartCount: number }> } | undefined)?.containerStatuses ?? [];
    const cells = isPod
      ? [
          o.metadata.name,
          `${statuses.filter((s) => s.ready).length}/${statuses.length}`,
          (o.status as { phase?: string } | undefined)?.phase ?? "Unknown",
          statuses.reduce((n, s) => n + s.restartCount, 0),
          "1m",
        ]
      : [o.metadata.name, "1m"];
    return { cells, object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata } };
  });
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    ...(withDefinitions ? { columnDefinitions: columns } : { columnDefinitions: [] }),
    rows,
  };
}

function isTrue(value: string | null): boolean {
  return value !== null && ["1", "t", "T", "true", "TRUE", "True"].includes(value);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, body: Record<string, unknown>): void {
  sendJson(res, body.code as number, body);
}

function rawResponse(code: number, body: Record<string, unknown>): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${code} ${code === 401 ? "Unauthorized" : "Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(Buffer.concat(chunks).toString()));
  });
}

// ---------------------------------------------------------------- kubectl as a real client

export const KUBECTL = "/usr/bin/kubectl";

export function hasKubectl(): boolean {
  try {
    execFileSync(KUBECTL, ["version", "--client"], { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run kubectl with no kubeconfig of its own (HOME and --cache-dir in `home`, KUBECONFIG pointing at
 * nothing), so only the flags given here reach the server. Killed after `timeoutMs`.
 */
export function kubectl(args: string[], options: { home: string; timeoutMs?: number }): Promise<KubectlResult> {
  const child = spawnKubectl(args, options);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 15_000);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function spawnKubectl(args: string[], options: { home: string }): ChildProcess {
  mkdirSync(options.home, { recursive: true });
  return spawn(KUBECTL, [`--cache-dir=${join(options.home, "cache")}`, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: options.home, KUBECONFIG: join(options.home, "no-kubeconfig") },
    stdio: ["ignore", "pipe", "pipe"],
  });
}
