/** Static endpoints from the route's `endpoints` list: they never change. */
import { EventEmitter } from "node:events";
import { endpointFromUrl, type Endpoint, type EndpointSource } from "./endpoint-source.js";

/**
 * Endpoints are frozen values: routes naming the same URL share one. A big table usually names few
 * distinct upstreams, and parsing the URL again for each of 1,000 routes was ~20 ms of the start.
 */
const parsed = new Map<string, Endpoint>();
const PARSED_MAX = 4096;

function endpointOf(url: string): Endpoint {
  let endpoint = parsed.get(url);
  if (!endpoint) {
    endpoint = endpointFromUrl(url);
    // Reloads can keep naming new URLs; a bounded cache never holds more than a config's worth.
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(url, endpoint);
  }
  return endpoint;
}

export class StaticSource extends EventEmitter implements EndpointSource {
  readonly kind = "static";
  private readonly list: readonly Endpoint[];

  constructor(urls: readonly string[]) {
    super();
    this.list = Object.freeze(urls.map(endpointOf));
  }

  async start(): Promise<void> {}

  endpoints(): readonly Endpoint[] {
    return this.list;
  }

  describe(): Record<string, unknown> {
    return { source: "static" };
  }

  close(): void {}
}
