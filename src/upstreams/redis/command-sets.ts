/**
 * Every set of Redis command names attache treats apart, in one place: what the allowlist refuses or
 * allows, what needs a client's own connection, what attache answers itself. The policy
 * (commands/command-policy.ts), the runner, the RESP listener and the HTTP API read these.
 */

/** Never proxied, whatever `commands` says. */
export const NOT_PROXYABLE: ReadonlySet<string> = new Set(["MONITOR", "SYNC", "PSYNC", "REPLCONF"]);

/** Reach past the route's database (another db, every db, another server): never proxied either. */
export const LEAVES_DB: ReadonlySet<string> = new Set(["MOVE", "SWAPDB", "MIGRATE", "FLUSHALL"]);

/** Always allowed (rule 2). SELECT and RESET keep the client in the route's db (see listener/local-commands.ts). */
export const CONNECTION: ReadonlySet<string> = new Set([
  "PING",
  "ECHO",
  "QUIT",
  "RESET",
  "AUTH",
  "HELLO",
  "CLIENT",
  "COMMAND",
  "INFO",
  "SELECT",
]);

/** Scripts and functions: refused under ["*"] unless listed by name (rule 4). */
export const SCRIPTING: ReadonlySet<string> = new Set([
  "EVAL",
  "EVALSHA",
  "EVAL_RO",
  "EVALSHA_RO",
  "FCALL",
  "FCALL_RO",
  "SCRIPT",
  "FUNCTION",
]);

/** Show or change Redis' own credentials (CONFIG GET requirepass, ACL): refused under ["*"] unless listed by name (rule 4). */
export const CREDENTIALS: ReadonlySet<string> = new Set(["CONFIG", "ACL"]);

/** Allowed by name, then checked argument by argument (checkArguments): what they name stays in the route's db. */
export const ARGUMENT_CHECKED: ReadonlySet<string> = new Set(["SELECT", "COPY"]);

/** Answered by attache, never sent to Redis. INFO only while it is not listed in `commands`. */
export const ANSWERED_LOCALLY: ReadonlySet<string> = new Set(["AUTH", "HELLO", "CLIENT", "QUIT"]);

/**
 * Commands whose effect spans the whole database or server, or that name keys where the command
 * table has none (DEBUG OBJECT key, CLUSTER GETKEYSINSLOT, SLOWLOG's other clients' arguments): a
 * keyPrefix cannot confine them.
 */
export const UNCONFINABLE: ReadonlySet<string> = new Set(["RANDOMKEY", "DBSIZE", "FLUSHDB", "DEBUG", "CLUSTER", "SLOWLOG"]);

/** Outside the default set, grouped by why. Documentation as data; `explain()` uses it in messages. */
export const REFUSED_FAMILIES = {
  /** Server administration: one app must not reconfigure, stop or wipe the shared server. */
  admin: [
    "FLUSHALL",
    "FLUSHDB",
    "CONFIG",
    "DEBUG",
    "SHUTDOWN",
    "MODULE",
    "ACL",
    "REPLICAOF",
    "SLAVEOF",
    "MIGRATE",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "FAILOVER",
    "CLUSTER",
    "SWAPDB",
    "LATENCY",
    "SLOWLOG",
    "MEMORY",
    "LASTSAVE",
    "ROLE",
    "LOLWUT",
    "PFDEBUG",
    "PFSELFTEST",
    "WAIT",
    "WAITAOF",
    "READONLY",
    "READWRITE",
    "ASKING",
    "RESTORE-ASKING",
    "MOVE",
    "OBJECT",
  ],
  /** Walk or count the whole keyspace: O(N), and they see other namespaces' keys. */
  keyspaceWide: ["KEYS", "SCAN", "RANDOMKEY", "DBSIZE"],
  /** Scripts can name any key and SELECT any db: neither keyPrefix nor db confines them. */
  scripting: [...SCRIPTING],
  /** Channels are not namespaced: opt in by listing them (GET {prefix}/subscribe needs SUBSCRIBE). */
  pubsub: ["PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SPUBLISH", "SSUBSCRIBE", "SUNSUBSCRIBE", "PUBSUB"],
  /** Leave the route's db: refused even when listed. */
  otherDatabases: [...LEAVES_DB],
  /** Break the proxy itself. */
  notProxyable: [...NOT_PROXYABLE],
} as const;

/** The default allowlist (its own file: a list of about 200 names). */
export { DEFAULT_COMMANDS } from "./default-commands.js";

/** A mode one may enter, one may leave: listing SUBSCRIBE allows UNSUBSCRIBE, MULTI brings EXEC and DISCARD. */
export const IMPLIED: Readonly<Record<string, readonly string[]>> = {
  SUBSCRIBE: ["UNSUBSCRIBE"],
  PSUBSCRIBE: ["PUNSUBSCRIBE"],
  SSUBSCRIBE: ["SUNSUBSCRIBE"],
  MULTI: ["EXEC", "DISCARD"],
  WATCH: ["UNWATCH"],
};

/** Commands that put a connection in a state only its own client may see: they need a dedicated connection. */
export const STATEFUL: ReadonlySet<string> = new Set([
  "MULTI",
  "WATCH",
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
]);
export const SUBSCRIBE_FAMILY: ReadonlySet<string> = new Set([
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
]);
/**
 * Commands whose reply may bring push frames to the connection that sent them (DEBUG PROTOCOL push):
 * a RESP3 client sends them on its own connection, never on the shared RESP3 one, which drops pushes
 * (client/shared-pipe.ts).
 */
export const OWN_PUSHES: ReadonlySet<string> = new Set(["DEBUG"]);
/** Commands that are meaningful only with a dedicated connection (transactions). */
export const TRANSACTION: ReadonlySet<string> = new Set(["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "RESET"]);

/**
 * Names the RESP listener may answer itself: INFO unless listed; RESET and SELECT (of the route's db:
 * a no-op) without a dedicated connection.
 */
export const LOCAL: ReadonlySet<string> = new Set([...ANSWERED_LOCALLY, "INFO", "RESET", "SELECT"]);

/** Commands that put a connection in subscriber mode. */
export const SUBSCRIBE: ReadonlySet<string> = new Set(["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"]);
/** The unsubscribe commands, and the kind of subscription each ends. */
export const UNSUBSCRIBE: Readonly<Record<string, "channels" | "patterns" | "shard">> = {
  UNSUBSCRIBE: "channels",
  PUNSUBSCRIBE: "patterns",
  SUNSUBSCRIBE: "shard",
};

/** Shard channels carry key specs in the command table but are channels: not namespaced, like SUBSCRIBE's (lower-case). */
export const CHANNEL_COMMANDS: ReadonlySet<string> = new Set(["spublish", "ssubscribe", "sunsubscribe"]);

/** Commands whose reply names a key first ([key, value...]): the keyPrefix is taken off it. */
export const KEY_FIRST_REPLY: readonly string[] = ["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "BLMPOP", "LMPOP", "ZMPOP", "BZMPOP"];
