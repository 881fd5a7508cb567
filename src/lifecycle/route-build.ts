/** Building upstreams for start and reload: build failures tagged with their route, and the wait for new upstreams' listeners. */
import type { ResolvedRoute } from "../config/validate.js";
import type { Route } from "../routing/route.js";
import type { UpstreamFactory } from "../routing/route-table.js";
import type { Retirement } from "./retire.js";

/** An upstream that could not be built for a route that validated (e.g. a TLS file that cannot be read). */
export class RouteBuildError extends Error {
  constructor(
    readonly route: ResolvedRoute,
    cause: unknown,
  ) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.name = "RouteBuildError";
  }
}

/** Tags build failures with their route, so a reload can reject the file that holds it. */
export function attributeFailures(create: UpstreamFactory): UpstreamFactory {
  // Arguments are passed through as they are: this wrapper does not care what a factory takes besides the route.
  return (...args: Parameters<UpstreamFactory>) => {
    try {
      return create(...args);
    } catch (err) {
      throw new RouteBuildError(args[0], err);
    }
  };
}

/**
 * Waits until every upstream of `fresh` is ready (its RESP listener bound). If one is not, all of
 * `fresh` are closed at once, and the first that failed is returned with its reason.
 */
export async function awaitReadiness(
  fresh: readonly Route[],
  retirement: Retirement,
): Promise<{ route: Route; reason: unknown } | undefined> {
  const ready = await Promise.allSettled(fresh.map((r) => r.upstream.readiness()));
  const failed = ready.findIndex((b) => b.status === "rejected");
  if (failed < 0) return undefined;
  await Promise.all(fresh.map((r) => retirement.closeNow(r.upstream, r.resilience, r.name)));
  return { route: fresh[failed]!, reason: (ready[failed] as PromiseRejectedResult).reason };
}
