/** Static endpoints from the route's `endpoints` list: they never change. */
import { EventEmitter } from "node:events";
import { endpointFromUrl, type Endpoint, type EndpointSource } from "./endpoint-source.js";

export class StaticSource extends EventEmitter implements EndpointSource {
  readonly kind = "static";
  private readonly list: readonly Endpoint[];

  constructor(urls: readonly string[]) {
    super();
    this.list = Object.freeze(urls.map(endpointFromUrl));
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
