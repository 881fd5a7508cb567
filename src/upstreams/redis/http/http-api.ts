/**
 * The Redis HTTP API at the route's prefix (docs/redis.md), over the route's shared
 * connection, or a dedicated one where a request needs it:
 *
 *   GET    {prefix}/{key}               → 200 value (application/octet-stream), 404 when missing
 *   PUT    {prefix}/{key}[?ttl=SECONDS] → SET (EX) with the body as value → 204
 *   DELETE {prefix}/{key}               → DEL → 204, 404 when nothing was deleted
 *   POST   {prefix}  {"command": [...]} → {"result": ...} or {"error": "..."}
 *          {prefix}  {"pipeline": [[...], ...]} → {"results": [{"result": ...} | {"error": "..."}, ...]}
 *   GET    {prefix}/subscribe/{channel}, {prefix}/psubscribe/{pattern} → server-sent events
 *
 * JSON keeps Redis' types: integers are numbers (strings past 2^53), nil is null, arrays are arrays,
 * error replies are {"error": text}; a bulk string that is not UTF-8 is {"base64": "..."}, and
 * command arguments may be given the same way. Keys in paths are percent-decoded to bytes.
 * A Redis error reply to GET/PUT/DELETE (WRONGTYPE) is 409 with {"error": text}.
 */
import type { ServerResponse } from "node:http";
import type { Limits, ResolvedRoute } from "../../../config/validate.js";
import { AttacheError, toAttacheError } from "../../../errors.js";
import { tracer } from "../../../observability/tracing.js";
import type { RequestContext } from "../../upstream.js";
import type { RedisClient } from "../client/redis-client.js";
import { ANSWERED_LOCALLY, SUBSCRIBE_FAMILY, TRANSACTION } from "../command-sets.js";
import { ClientState } from "../commands/client-state.js";
import type { CommandRunner } from "../commands/command-runner.js";
import { single, type Prepared, type Reply } from "../commands/prepared.js";
import type { RespValue } from "../resp/value.js";
import { readBody, readJsonCommands, type BodyBounds } from "./http-body.js";
import { percentDecode, toJson } from "./json-reply.js";
import { streamEvents } from "./sse-stream.js";

export class RedisHttpApi {
  constructor(
    private readonly route: ResolvedRoute,
    /** The root config's bounds on clients (arguments, sizes, output). */
    private readonly limits: Limits,
    private readonly client: RedisClient,
    private readonly runner: CommandRunner,
    /** INFO as attache answers it (when not forwarded: CommandRunner.forwardsInfo). */
    private readonly infoText: () => string,
  ) {}

  async handle(ctx: RequestContext): Promise<void> {
    const method = ctx.req.method ?? "GET";
    const path = ctx.path;
    if (path === "/" || path === "") {
      if (method === "POST") return this.commandApi(ctx);
      throw new AttacheError(
        "bad_request",
        `route ${this.route.name}: use GET/PUT/DELETE {prefix}/{key}, or POST {prefix} with {"command": [...]} or {"pipeline": [...]}`,
        { route: this.route.name },
      );
    }
    const sub = /^\/(subscribe|psubscribe)\/(.+)$/.exec(path);
    if (sub && method === "GET") return this.subscribe(ctx, sub[1] === "psubscribe", this.decodeKey(sub[2]!));
    const key = this.decodeKey(path.slice(1));
    switch (method) {
      case "GET":
      case "HEAD": {
        const reply = await this.one(ctx, [b("GET"), key]);
        if (reply.type === "error") return this.redisError(ctx.res, reply);
        if (reply.type !== "bulk" || reply.value === null) return send(ctx, 404, undefined);
        return send(ctx, 200, reply.value, "application/octet-stream");
      }
      case "PUT": {
        const ttl = new URLSearchParams(ctx.query.slice(1)).get("ttl");
        if (ttl !== null && !/^[1-9]\d{0,15}$/.test(ttl))
          throw this.badRequest(`ttl must be a positive whole number of seconds, got ${JSON.stringify(ttl)}`);
        const body = await readBody(
          ctx.req,
          ctx.res,
          this.route.name,
          this.bounds(ctx, Math.min(this.route.maxBodySize, this.limits.redis.maxBulkLength)),
        );
        const reply = await this.one(ctx, ttl === null ? [b("SET"), key, body] : [b("SET"), key, body, b("EX"), b(ttl)]);
        if (reply.type === "error") return this.redisError(ctx.res, reply);
        return send(ctx, 204, undefined);
      }
      case "DELETE": {
        const reply = await this.one(ctx, [b("DEL"), key]);
        if (reply.type === "error") return this.redisError(ctx.res, reply);
        return send(ctx, reply.type === "integer" && reply.value !== "0" ? 204 : 404, undefined);
      }
      default:
        throw new AttacheError(
          "method_not_allowed",
          `route ${this.route.name}: ${method} is not part of the redis API (GET, PUT, DELETE {prefix}/{key}; POST {prefix})`,
          { route: this.route.name },
        );
    }
  }

  /** The body's bounds: the route's timeout, counted from the request's start, and `maxBytes`. */
  private bounds(ctx: RequestContext, maxBytes: number): BodyBounds {
    const { maxArgs, maxBulkLength } = this.limits.redis;
    return { maxBytes, maxArgs, maxBulkLength, deadline: ctx.startedAt + this.route.timeout, timeout: this.route.timeout };
  }

  private async commandApi(ctx: RequestContext): Promise<void> {
    // As many bytes as a RESP client may have pending, and no more than the route's maxBodySize.
    const maxBytes = Math.min(this.route.maxBodySize, this.limits.redis.maxQueryBuffer);
    const { single, commands } = await readJsonCommands(ctx.req, ctx.res, this.route.name, this.bounds(ctx, maxBytes));
    const prepared = commands.map((args) => this.prepareArgs(args));
    const operation = single ? commands[0]![0]!.toString("latin1").toUpperCase() : "PIPELINE";
    const replies = await this.traced(ctx, operation, () => this.runAll(ctx, prepared));
    const item = (r: RespValue) => (r.type === "error" ? { error: r.value } : { result: toJson(r) });
    return sendJson(ctx, 200, single ? item(replies[0]!) : { results: replies.map(item) });
  }

  private prepareArgs(args: Buffer[]): Prepared | { local: RespValue } {
    const name = args[0]!.toString("latin1").toUpperCase();
    if (SUBSCRIBE_FAMILY.has(name))
      throw this.badRequest(`${name} is not available as a command over HTTP: use GET ${this.route.prefix}/subscribe/{channel}`);
    if (ANSWERED_LOCALLY.has(name) || name === "RESET")
      throw this.badRequest(`${name} has no meaning over HTTP: attache holds the connection`);
    if (name === "INFO" && !this.runner.forwardsInfo) return { local: { type: "bulk", value: Buffer.from(this.infoText()) } };
    const prepared = this.runner.prepare(args);
    if (!prepared.ok) throw this.notAllowed(name, prepared.reason);
    // SELECT of the route's own db (prepare refuses any other): already there, nothing to send.
    if (name === "SELECT") return { local: { type: "simple", value: "OK" } };
    return prepared.command;
  }

  /**
   * Run commands in order. Transactions, SELECT and blocking commands get a dedicated connection for
   * this request (closed after it): on the shared one they would hold up or leak into other clients.
   */
  private async runAll(ctx: RequestContext, list: Array<Prepared | { local: RespValue }>): Promise<RespValue[]> {
    const resilience = ctx.route.resilience;
    const commands = list.filter((c): c is Prepared => !("local" in c));
    const dedicated = commands.some((c) => TRANSACTION.has(c.name) || c.blocking !== undefined);
    if (!dedicated) {
      const pending = list.map((c) => ("local" in c ? Promise.resolve({ value: c.local } as Reply) : this.runner.shared(resilience, c)));
      return (await Promise.all(pending)).map((r) => r.value);
    }
    const conn = await this.client.openDedicated();
    // A client that leaves mid-BLPOP must not leave a connection blocked in Redis.
    ctx.res.once("close", () => conn.close());
    try {
      const state = new ClientState(this.client.db);
      const pending = list.map((c) => {
        if ("local" in c) return Promise.resolve(c.local);
        const rewrite = state.sending(c);
        return this.runner.dedicated(resilience, conn, c).then((frames) => single(frames[frames.length - 1]!, rewrite).value);
      });
      return await Promise.all(pending);
    } finally {
      conn.close();
    }
  }

  /** One command for the key API; refusals become 403. */
  private async one(ctx: RequestContext, args: Buffer[]): Promise<RespValue> {
    const prepared = this.runner.prepare(args);
    if (!prepared.ok) throw this.notAllowed(args[0]!.toString(), prepared.reason);
    return this.traced(ctx, prepared.command.name, async () => (await this.runner.shared(ctx.route.resilience, prepared.command)).value);
  }

  /** A Redis client span around the exchange when the request is traced (observability/otel.ts). */
  private async traced<T>(ctx: RequestContext, operation: string, run: () => Promise<T>): Promise<T> {
    const span = ctx.span && tracer?.redisSpan(ctx.span, operation, this.route.name, this.client.db);
    if (!span) return run();
    try {
      const out = await run();
      tracer?.end(span, {});
      return out;
    } catch (err) {
      tracer?.end(span, { error: toAttacheError(err, this.route.name).code });
      throw err;
    }
  }

  /** Server-sent events from a dedicated connection, closed when the client goes away. */
  private async subscribe(ctx: RequestContext, pattern: boolean, channel: Buffer): Promise<void> {
    const name = pattern ? "PSUBSCRIBE" : "SUBSCRIBE";
    const prepared = this.runner.prepare([b(name), channel]);
    if (!prepared.ok) throw this.notAllowed(name, prepared.reason);
    const command = prepared.command;
    const admitted = await ctx.route.resilience.exchange(
      async (signal) => {
        const conn = await this.client.openDedicated();
        const onAbort = () => conn.close();
        signal.addEventListener("abort", onAbort, { once: true });
        try {
          const frames = await conn.send(command.args);
          return { conn, frames };
        } catch (err) {
          conn.close();
          throw this.client.unreachable(err);
        } finally {
          signal.removeEventListener("abort", onAbort);
        }
      },
      { retryable: false, streaming: true, outcome: () => "success", discard: (r) => r.conn.close() },
    );
    const { conn, frames } = admitted.result;
    const { res } = ctx;
    const refused = frames.find((f) => f.value.type === "error");
    if (refused || conn.isClosed) {
      conn.close();
      admitted.release();
      this.runner.count(name, refused ? "error" : "upstream_unreachable");
      if (refused) return this.redisError(res, refused.value);
      throw this.client.unreachable(new Error("subscription connection closed"));
    }
    this.runner.count(name, "ok");
    streamEvents(ctx, this.route.name, conn, channel, this.limits.redis.output, () => admitted.release());
  }

  private redisError(res: ServerResponse, reply: RespValue): void {
    const body = JSON.stringify(toJson(reply));
    res.writeHead(409, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
    res.end(body);
  }

  private decodeKey(text: string): Buffer {
    const key = percentDecode(text);
    if (!key || key.length === 0) throw this.badRequest(`malformed key ${JSON.stringify(text)}`);
    return key;
  }

  private badRequest(message: string): AttacheError {
    return new AttacheError("bad_request", `route ${this.route.name}: ${message}`, { route: this.route.name });
  }

  private notAllowed(name: string, reason: string): AttacheError {
    return new AttacheError("command_not_allowed", `route ${this.route.name}: ${reason || `${name} is not allowed`}`, {
      route: this.route.name,
    });
  }
}

function b(s: string): Buffer {
  return Buffer.from(s);
}

function send(ctx: RequestContext, status: number, body: Buffer | undefined, contentType?: string): void {
  const headers: Record<string, string | number> = {
    "cache-control": "no-store",
    "x-request-id": ctx.requestId,
    "content-length": body?.length ?? 0,
  };
  if (contentType) headers["content-type"] = contentType;
  ctx.res.writeHead(status, headers);
  ctx.res.end(body);
}

function sendJson(ctx: RequestContext, status: number, value: unknown): void {
  send(ctx, status, Buffer.from(JSON.stringify(value)), "application/json");
}
