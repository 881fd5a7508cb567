/**
 * EndpointSlices for the fake Kubernetes API (fake-kube-api.ts): the discovery.k8s.io/v1 type in its
 * store, and a small builder that scales a Service the way the EndpointSlice controller reports it
 * (pods added, turned not-ready, removed; named ports; slices split and deleted).
 * The fake's generic store serves list, watch from a resourceVersion and 410 Gone.
 */
import type { FakeKubeApi, KubeObject } from "./fake-kube-api.js";

export const ENDPOINTSLICE_TYPE = {
  group: "discovery.k8s.io",
  version: "v1",
  kind: "EndpointSlice",
  plural: "endpointslices",
  namespaced: true,
} as const;

export interface SliceEndpoint {
  ip: string;
  /** Default true. `null` leaves the condition unset (the API says: treat as ready). */
  ready?: boolean | null;
  terminating?: boolean;
}

export interface SlicePort {
  name?: string;
  port: number;
  protocol?: string;
}

export function endpointSlice(
  name: string,
  service: string,
  namespace: string,
  endpoints: SliceEndpoint[],
  ports: SlicePort[],
  addressType: "IPv4" | "IPv6" = "IPv4",
): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace,
      labels: { "kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" },
    },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ...(e.ready === null ? {} : { ready: e.ready ?? true }),
        serving: e.ready !== false,
        terminating: e.terminating ?? false,
      },
      targetRef: { kind: "Pod", namespace, name: `${service}-${e.ip.replace(/[.:]/g, "-")}` },
    })),
    ports: ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : {}), port: p.port, protocol: p.protocol ?? "TCP" })),
  };
}

/** The EndpointSlices of one Service in the fake API. */
export class FakeService {
  constructor(
    private readonly api: FakeKubeApi,
    readonly name: string,
    readonly namespace = "default",
  ) {
    defineEndpointSlices(api);
  }

  /** Create or replace one slice of this service. */
  slice(sliceName: string, endpoints: SliceEndpoint[], ports: SlicePort[], addressType: "IPv4" | "IPv6" = "IPv4"): KubeObject {
    return this.api.store.apply(endpointSlice(sliceName, this.name, this.namespace, endpoints, ports, addressType));
  }

  deleteSlice(sliceName: string): void {
    this.api.store.delete("discovery.k8s.io/v1", "EndpointSlice", this.namespace, sliceName);
  }
}

/** Make the fake serve /apis/discovery.k8s.io/v1/.../endpointslices (idempotent). */
export function defineEndpointSlices(api: FakeKubeApi): void {
  if (!api.store.type(ENDPOINTSLICE_TYPE.group, ENDPOINTSLICE_TYPE.version, ENDPOINTSLICE_TYPE.plural))
    api.store.define({ ...ENDPOINTSLICE_TYPE });
}

/** Churn the store with `count` changes to an unrelated object, so older resourceVersions fall out of the watch history (→ 410 Gone). */
export function churn(api: FakeKubeApi, count = 1001): void {
  for (let i = 0; i < count; i++) {
    api.store.apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "churn", namespace: "kube-system" },
      status: { phase: "Running", n: i },
    });
  }
}
