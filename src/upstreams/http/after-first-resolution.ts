/** An http route that discovers its endpoints serves only once discovery has made its first attempt. */
import type { EndpointSource } from "../../discovery/endpoint-source.js";
import type { Upstream } from "../upstream.js";

/**
 * `upstream`, serving only once `source` has made its first attempt: a route built a moment ago (start,
 * reload) has no endpoints until then, and answering "no endpoint" would be an outage of our making.
 * The wait is bounded by the source's own timeouts (DNS query, API list); a source that found nothing
 * keeps trying on its own schedule while requests get upstream_unreachable.
 */
export function afterFirstResolution(upstream: Upstream, source: EndpointSource): Upstream {
  let settled = false;
  const settle = () => {
    settled = true;
  };
  const ready = source.start().then(settle, settle);
  const gated: Upstream = {
    kind: upstream.kind,
    handle: async (ctx) => {
      if (!settled) await ready;
      return upstream.handle(ctx);
    },
    readiness: () => upstream.readiness(),
    describe: () => upstream.describe(),
    close: () => upstream.close(),
  };
  const upgrade = upstream.upgrade?.bind(upstream);
  if (upgrade) {
    gated.upgrade = async (ctx, socket, head) => {
      if (!settled) await ready;
      return upgrade(ctx, socket, head);
    };
  }
  if (upstream.renderError) gated.renderError = upstream.renderError.bind(upstream);
  return gated;
}
