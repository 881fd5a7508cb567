/** Which Kubernetes API requests answer for longer than a route timeout: watches, follows and lists. */

const TRUE = new Set(["1", "t", "T", "true", "TRUE", "True"]);

/**
 * Requests whose response outlives any sensible timeout: `watch=true` and `follow=true` (as the API
 * server parses booleans), and the legacy /api/v1/watch/... and /apis/G/V/watch/... paths.
 */
export function isLongRunning(path: string, query: string): boolean {
  if (/^\/(?:api\/[^/]+|apis\/[^/]+\/[^/]+)\/watch(?:\/|$)/.test(path)) return true;
  if (!query) return false;
  const params = new URLSearchParams(query.slice(1));
  return TRUE.has(params.get("watch") ?? "") || TRUE.has(params.get("follow") ?? "");
}

/**
 * A GET of a collection (/api/v1/pods, /apis/G/V/namespaces/NS/R, /api/v1/namespaces): a list, which the
 * API server may stream for longer than any timeout suits (an informer's list ignores `limit` when served
 * from the watch cache). The deadline covers it until the response headers, as for a watch.
 */
export function isList(path: string): boolean {
  return /^\/(?:api\/[^/]+|apis\/[^/]+\/[^/]+)(?:\/namespaces\/[^/]+)?\/[^/]+\/?$/.test(path);
}
