/**
 * Which commands a route lets through (the `commands` allowlist); the name sets are in ../command-sets.ts.
 * Consulted by both interfaces, HTTP and RESP, before anything reaches Redis.
 *
 * Rules, in order:
 *  1. NOT_PROXYABLE is refused always, even with ["*"]: it would break the connection model or the
 *     protocol between attache and Redis (MONITOR, replication). So is LEAVES_DB: a client never
 *     leaves the route's database (MOVE, SWAPDB, MIGRATE, FLUSHALL).
 *  2. CONNECTION commands are always allowed: every client library sends them on connect (PING,
 *     COMMAND DOCS, CLIENT SETINFO, INFO in ioredis' ready check, SELECT of the route's db). AUTH,
 *     HELLO, CLIENT, QUIT and (unless listed) INFO are answered by attache itself; Redis never sees them.
 *  3. A command named in `commands` is allowed.
 *  4. ["*"] allows everything else that is proxyable, except, unless listed by name: scripts and
 *     functions (SCRIPTING: a script may SELECT another db and name any key), CONFIG and ACL
 *     (CREDENTIALS: they show or change Redis' password and users, with which a client could log in
 *     to Redis itself, in any db), and, on a route with a keyPrefix, the commands that cannot be
 *     confined to the namespace (UNCONFINABLE).
 *  5. Without `commands`, DEFAULT_COMMANDS applies: data types, expiry, per-key keyspace commands,
 *     transactions, blocking pops. Everything in REFUSED_FAMILIES is outside it.
 *  With a keyPrefix, a command whose key positions attache cannot tell (unknown to the command table)
 *  is refused: better a refusal than a key written outside the namespace.
 *  Once allowed by name, ARGUMENT_CHECKED commands have their arguments checked (checkArguments):
 *  SELECT only of the route's db, COPY without DB.
 */
import { exists } from "@ioredis/commands";
import {
  CONNECTION,
  CREDENTIALS,
  DEFAULT_COMMANDS,
  IMPLIED,
  LEAVES_DB,
  NOT_PROXYABLE,
  REFUSED_FAMILIES,
  SCRIPTING,
  UNCONFINABLE,
} from "../command-sets.js";

export type Verdict = { allowed: true } | { allowed: false; reason: string };

export interface CommandPolicyOptions {
  /** The route's `commands`; undefined: DEFAULT_COMMANDS. */
  commands?: readonly string[] | undefined;
  /** The route has a keyPrefix (rule 4, and unknown commands are refused). */
  prefixed: boolean;
  /** The route's database: the only one SELECT may name. */
  db?: number | undefined;
}

export class CommandPolicy {
  private readonly listed: ReadonlySet<string>;
  readonly all: boolean;
  private readonly prefixed: boolean;
  /** The route's db as Redis spells it: SELECT's argument must be exactly this. */
  readonly db: string;

  constructor(options: CommandPolicyOptions) {
    this.db = String(options.db ?? 0);
    const names = (options.commands ?? DEFAULT_COMMANDS).map((c) => c.toUpperCase());
    this.all = names.includes("*");
    const listed = new Set(names.filter((n) => n !== "*"));
    // A mode one may enter, one may leave: SUBSCRIBE brings UNSUBSCRIBE, MULTI brings EXEC and DISCARD.
    for (const [name, implied] of Object.entries(IMPLIED)) if (listed.has(name)) for (const i of implied) listed.add(i);
    this.listed = listed;
    this.prefixed = options.prefixed;
  }

  /** Listed explicitly by name (INFO: forwarded instead of answered locally). */
  isListed(name: string): boolean {
    return this.listed.has(name);
  }

  /** `name` is upper-case. */
  check(name: string): Verdict {
    if (NOT_PROXYABLE.has(name)) return refuse(`${name} cannot be proxied`);
    if (LEAVES_DB.has(name)) return refuse(`${name} reaches past the route's db ${this.db}`);
    if (CONNECTION.has(name)) return ALLOWED;
    if (this.listed.has(name))
      return this.prefixed && !isKnown(name)
        ? refuse(`${name}: its key positions are unknown, so the keyPrefix cannot be applied`)
        : ALLOWED;
    if (this.all) {
      if (SCRIPTING.has(name))
        return refuse(`${name}: a script can reach any key and any db, so ["*"] does not include it (list it by name to allow it)`);
      if (CREDENTIALS.has(name))
        return refuse(`${name} shows or changes Redis' credentials, so ["*"] does not include it (list it by name to allow it)`);
      if (this.prefixed && UNCONFINABLE.has(name))
        return refuse(`${name} cannot be confined to the route's keyPrefix (list it by name to allow it)`);
      if (this.prefixed && !isKnown(name)) return refuse(`${name}: its key positions are unknown, so the keyPrefix cannot be applied`);
      return ALLOWED;
    }
    return refuse(`${name} is not in the route's commands${familyOf(name) ? ` (${familyOf(name)})` : ""}`);
  }

  /**
   * For ARGUMENT_CHECKED names (upper-case `name`, `args[0]` the name): SELECT must name the route's
   * db exactly as Redis writes it; COPY must not take the DB option.
   */
  checkArguments(name: string, args: readonly Buffer[]): Verdict {
    if (name === "SELECT") {
      const db = args.length === 2 ? args[1]!.toString("latin1") : undefined;
      if (db === this.db) return ALLOWED;
      return refuse(
        `SELECT ${db === undefined ? "needs one argument" : JSON.stringify(db.slice(0, 20))}: this connection is confined to db ${this.db}`,
      );
    }
    if (name === "COPY") {
      for (let i = 3; i < args.length; i++)
        if (args[i]!.length === 2 && args[i]!.toString("latin1").toUpperCase() === "DB")
          return refuse(`COPY ... DB: this connection is confined to db ${this.db} (COPY within it has no DB option)`);
    }
    return ALLOWED;
  }

  describe(): Record<string, unknown> {
    return {
      commands: this.all
        ? ["*", ...this.listed]
        : this.listed.size === new Set(DEFAULT_COMMANDS).size && DEFAULT_COMMANDS.every((c) => this.listed.has(c))
          ? "default"
          : [...this.listed],
    };
  }
}

const ALLOWED: Verdict = { allowed: true };
const refuse = (reason: string): Verdict => ({ allowed: false, reason });

function isKnown(name: string): boolean {
  return exists(name.toLowerCase());
}

function familyOf(name: string): string | undefined {
  for (const [family, names] of Object.entries(REFUSED_FAMILIES)) if ((names as readonly string[]).includes(name)) return family;
  return undefined;
}
