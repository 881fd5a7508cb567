/** Turning a Service's EndpointSlices into endpoints: ready addresses only, at the route's port (by name or number). */
import type { Endpoint } from "./endpoint-source.js";
import { endpointForAddress } from "./endpoint-set.js";

export interface EndpointSliceJson {
  metadata?: { name?: string; resourceVersion?: string };
  addressType?: string;
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean | null } }> | null;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string }> | null;
}

export interface SliceEndpoints {
  endpoints: Endpoint[];
  /** Slices with endpoints but no port of the route's name. */
  unresolved: string[];
}

/** `port`: a name is resolved per slice (a rollout may map it to another number), a number is used as is. */
export function endpointsOfSlices(
  slices: ReadonlyMap<string, EndpointSliceJson>,
  port: string | number,
  protocol: Endpoint["protocol"],
): SliceEndpoints {
  const endpoints: Endpoint[] = [];
  const unresolved: string[] = [];
  for (const [name, slice] of slices) {
    const number = typeof port === "number" ? port : slice.ports?.find((p) => p.name === port)?.port;
    if (!number) {
      if ((slice.endpoints?.length ?? 0) > 0) unresolved.push(name);
      continue;
    }
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      // "These are all assumed to be fungible and clients may choose to only use the first element."
      const address = ep.addresses?.[0];
      if (address) endpoints.push(endpointForAddress(protocol, address, number));
    }
  }
  return { endpoints, unresolved };
}
