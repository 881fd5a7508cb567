/**
 * The commands a RESP client's session answers itself (AUTH, HELLO, CLIENT, QUIT, INFO unless
 * forwarded, RESET and SELECT when nothing is upstream): the app needs no password, and its
 * connection's identity and protocol live in attache.
 */
import type { Socket } from "node:net";
import type { ClientState } from "../commands/client-state.js";
import { encodeValue, errorReply } from "../resp/encoder.js";
import { resp } from "../resp/value.js";
import type { RespBackend } from "./backend.js";

export const OK = Buffer.from("+OK\r\n");
export const RESET = Buffer.from("+RESET\r\n");
export const NOT_ALLOWED = errorReply("ERR command not allowed");

/** A client connection's identity and protocol, as HELLO, CLIENT and RESET set them. */
export interface ClientIdentity {
  readonly id: number;
  /** When the connection came (CLIENT INFO's age). */
  readonly since: number;
  /** The protocol the client asked for with HELLO (see listener/session.ts on RESP3). */
  protocol: 2 | 3;
  name: Buffer | null;
}

/** What answering locally reads of the session. */
export interface LocalContext {
  readonly client: ClientIdentity;
  readonly backend: RespBackend;
  readonly socket: Socket;
  readonly state: ClientState;
  /** A dedicated connection is open or opening, or commands wait: RESET and SELECT then go to Redis, in order. */
  upstreamBusy(): boolean;
}

/** The reply to a command in LOCAL (command-sets.ts); undefined: it goes to Redis after all. */
export function answerLocally(ctx: LocalContext, name: string, args: Buffer[]): Buffer | undefined {
  switch (name) {
    case "QUIT":
      return OK;
    case "AUTH":
      // The app needs no password: attache holds Redis' credentials. Any AUTH is accepted.
      return args.length === 2 || args.length === 3 ? OK : arity("auth");
    case "HELLO":
      return hello(ctx, args);
    case "CLIENT":
      return client(ctx, args);
    case "INFO":
      return ctx.backend.runner.forwardsInfo ? undefined : text(ctx.client, ctx.backend.infoText());
    case "RESET":
      ctx.client.name = null;
      // With a dedicated connection, Redis resets it in order, and it is logged in and in the route's db again (client/dedicated-connection.ts).
      if (ctx.upstreamBusy()) return undefined;
      ctx.client.protocol = 2;
      return RESET;
    case "SELECT":
      // The route's db (Session.selectsElsewhere refused any other): already there. Forwarded, in
      // order, behind a dedicated connection's commands (in MULTI Redis answers QUEUED).
      return ctx.upstreamBusy() ? undefined : OK;
    default:
      return undefined;
  }
}

/** HELLO [2|3] [AUTH user pass] [SETNAME name]: as Redis answers it; the protocol applies to the commands after it. */
function hello(ctx: LocalContext, args: Buffer[]): Buffer {
  const identity = ctx.client;
  let i = 1;
  let protocol = identity.protocol;
  if (args.length >= 2) {
    const text = args[1]!.toString("latin1");
    if (!/^-?\d+$/.test(text)) return errorReply("ERR Protocol version is not an integer or out of range");
    if (text !== "2" && text !== "3") return errorReply("NOPROTO unsupported protocol version");
    protocol = text === "3" ? 3 : 2;
    i = 2;
  }
  let name = identity.name;
  for (; i < args.length; i++) {
    const option = args[i]!.toString("latin1");
    const upper = option.toUpperCase();
    // The app needs no password (attache holds Redis' credentials): any AUTH is accepted.
    if (upper === "AUTH" && i + 2 < args.length) i += 2;
    else if (upper === "SETNAME" && i + 1 < args.length) name = args[++i]!;
    else return errorReply(`ERR Syntax error in HELLO option '${option}'`);
  }
  identity.protocol = protocol;
  identity.name = name;
  const b = resp.bulk;
  const fields = [
    b("server"),
    b("redis"),
    b("version"),
    b(ctx.backend.serverVersion()),
    b("proto"),
    resp.integer(protocol),
    b("id"),
    resp.integer(identity.id),
    b("mode"),
    b("standalone"),
    b("role"),
    b("master"),
    b("modules"),
    resp.array([]),
  ];
  return encodeValue(protocol === 3 ? { type: "map", value: fields } : resp.array(fields));
}

/** Text as Redis sends INFO and CLIENT INFO: a bulk string, a verbatim string in RESP3. */
function text(identity: ClientIdentity, text: string): Buffer {
  return encodeValue(identity.protocol === 3 ? { type: "verbatim", value: Buffer.from(`txt:${text}`) } : resp.bulk(text));
}

function client(ctx: LocalContext, args: Buffer[]): Buffer {
  const identity = ctx.client;
  if (args.length < 2) return arity("client");
  const sub = args[1]!.toString("latin1").toUpperCase();
  switch (sub) {
    case "SETNAME": {
      if (args.length !== 3) return arity("client|setname");
      const name = args[2]!;
      if (name.some((c) => c < 33 || c > 126)) return errorReply("ERR Client names cannot contain spaces, newlines or special characters.");
      identity.name = name.length ? name : null;
      return OK;
    }
    case "GETNAME":
      return encodeValue(identity.name === null && identity.protocol === 3 ? { type: "null" } : resp.bulk(identity.name));
    case "ID":
      return encodeValue(resp.integer(identity.id));
    case "SETINFO":
      return args.length === 4 ? OK : arity("client|setinfo");
    case "NO-EVICT":
    case "NO-TOUCH":
      return OK;
    case "INFO":
    case "LIST": {
      const { socket, state } = ctx;
      const line = `id=${identity.id} addr=${socket.remoteAddress}:${socket.remotePort} laddr=${socket.localAddress}:${socket.localPort} name=${identity.name?.toString("latin1") ?? ""} age=${Math.floor((Date.now() - identity.since) / 1000)} db=${state.db} multi=${state.inMulti ? 0 : -1} resp=${identity.protocol} lib-name=attache\n`;
      return text(identity, line);
    }
    default:
      return NOT_ALLOWED;
  }
}

function arity(command: string): Buffer {
  return errorReply(`ERR wrong number of arguments for '${command}' command`);
}
