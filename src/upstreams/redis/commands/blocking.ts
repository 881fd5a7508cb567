/** How long a blocking command (BLPOP, XREAD BLOCK, WAIT...) may wait in Redis, from its own arguments. */

/** A blocking command's timeout argument in seconds → ms (0: forever; not a number: 0, and Redis refuses it). */
function seconds(b: Buffer | undefined): number {
  const n = b ? Number(b.toString("latin1")) : NaN;
  return Number.isFinite(n) && n >= 0 ? (n === 0 ? Infinity : n * 1000) : 0;
}

/** How long a blocking command may wait in Redis, from its own arguments. */
export function blockingMs(name: string, args: readonly Buffer[]): number | undefined {
  switch (name) {
    case "BLPOP":
    case "BRPOP":
    case "BZPOPMIN":
    case "BZPOPMAX":
    case "BRPOPLPUSH":
    case "BLMOVE":
      return seconds(args[args.length - 1]);
    case "BLMPOP":
    case "BZMPOP":
      return seconds(args[1]);
    case "XREAD":
    case "XREADGROUP": {
      for (let i = 1; i < args.length - 1; i++) {
        const word = args[i]!.toString("latin1").toUpperCase();
        if (word === "STREAMS") return undefined;
        if (word === "BLOCK") {
          const ms = Number(args[i + 1]!.toString("latin1"));
          return Number.isFinite(ms) && ms >= 0 ? (ms === 0 ? Infinity : ms) : 0;
        }
      }
      return undefined;
    }
    case "WAIT":
      return Number(args[2]?.toString("latin1")) === 0 ? Infinity : Math.max(0, Number(args[2]?.toString("latin1")) || 0);
    case "WAITAOF":
      return Number(args[3]?.toString("latin1")) === 0 ? Infinity : Math.max(0, Number(args[3]?.toString("latin1")) || 0);
    default:
      return undefined;
  }
}
