/**
 * Least privilege: the Role grants exactly what the example routes let the app reach, derived from
 * the routes themselves (methods, allow/deny) rather than written down twice, and is bound to the
 * one ServiceAccount the pod runs as.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { find, loadManifests, type Doc, type Manifest } from "./manifests.js";
import { podView } from "./pod.js";

interface Rule {
  path: string;
  methods?: string[];
}
interface Route {
  prefix: string;
  methods?: string[];
  allow?: Rule[];
  deny?: Rule[];
  upstream: Doc;
}

/** Kubernetes' own default deny on kubernetes routes, unless a route lifts it. */
const DEFAULT_DENY: Rule[] = [{ path: "pods/[^/]+/exec" }, { path: "pods/[^/]+/attach" }, { path: "pods/[^/]+/portforward" }];

/** Namespaced resources an app might ask for, with their API path prefix. */
const RESOURCES = [
  { group: "", resource: "pods", base: "/api/v1" },
  { group: "", resource: "pods/log", base: "/api/v1" },
  { group: "", resource: "secrets", base: "/api/v1" },
  { group: "", resource: "configmaps", base: "/api/v1" },
  { group: "", resource: "services", base: "/api/v1" },
  { group: "", resource: "endpoints", base: "/api/v1" },
  { group: "", resource: "events", base: "/api/v1" },
  { group: "", resource: "serviceaccounts/token", base: "/api/v1" },
  { group: "apps", resource: "deployments", base: "/apis/apps/v1" },
  { group: "discovery.k8s.io", resource: "endpointslices", base: "/apis/discovery.k8s.io/v1" },
  { group: "rbac.authorization.k8s.io", resource: "roles", base: "/apis/rbac.authorization.k8s.io/v1" },
];

/** HTTP request → Kubernetes verb, on a collection or on one object. */
const REQUESTS = [
  { method: "GET", on: "collection", verbs: ["list", "watch"] },
  { method: "GET", on: "item", verbs: ["get"] },
  { method: "POST", on: "collection", verbs: ["create"] },
  { method: "PUT", on: "item", verbs: ["update"] },
  { method: "PATCH", on: "item", verbs: ["patch"] },
  { method: "DELETE", on: "item", verbs: ["delete"] },
  { method: "DELETE", on: "collection", verbs: ["deletecollection"] },
] as const;

function permits(route: Route, method: string, path: string): boolean {
  const matches = (rule: Rule) => new RegExp(rule.path).test(path) && (!rule.methods || rule.methods.includes(method));
  if (route.methods && !route.methods.includes(method)) return false;
  if (route.allow && route.allow.length > 0 && !route.allow.some(matches)) return false;
  return ![...(route.deny ?? []), ...DEFAULT_DENY].some(matches);
}

function pathOf(base: string, resource: string, namespace: string, on: "collection" | "item"): string {
  const [plural, sub] = resource.split("/");
  const collection = `${base}/namespaces/${namespace}/${plural}`;
  if (sub) return `${collection}/some-name/${sub}`;
  return on === "collection" ? collection : `${collection}/some-name`;
}

/** "group|resource|verb" for everything the routes let the app (or attache's discovery) ask the API server. */
function needs(routes: readonly Route[], namespace: string): string[] {
  const out = new Set<string>();
  for (const route of routes) {
    if (route.upstream.kubernetes) {
      for (const { group, resource, base } of RESOURCES)
        for (const { method, on, verbs } of REQUESTS) {
          if (resource.includes("/") && on === "collection") continue;
          if (permits(route, method, pathOf(base, resource, namespace, on)))
            for (const verb of verbs) out.add(`${group}|${resource}|${verb}`);
        }
    }
    if (route.upstream.http?.discovery?.kubernetes) {
      // EndpointSlice discovery: list the Service's slices, then watch them.
      for (const verb of ["list", "watch"]) out.add(`discovery.k8s.io|endpointslices|${verb}`);
    }
  }
  return [...out].sort();
}

function grants(role: Doc): string[] {
  const out: string[] = [];
  for (const rule of role.rules) {
    expect(rule.resourceNames, "resourceNames would not cover list/watch").toBeUndefined();
    expect(rule.nonResourceURLs).toBeUndefined();
    for (const group of rule.apiGroups)
      for (const resource of rule.resources) for (const verb of rule.verbs) out.push(`${group}|${resource}|${verb}`);
  }
  return out.sort();
}

let manifests: Manifest[];
let routes: Route[];
let namespace: string;

beforeAll(() => {
  manifests = loadManifests();
  namespace = find(manifests, "Deployment", "attache-demo").metadata.namespace;
  routes = manifests
    .filter((m) => m.doc.kind === "ConfigMap" && /^attache-/.test(m.doc.metadata.name))
    .flatMap((m) => Object.values(m.doc.data as Record<string, string>).map((text) => parse(text) as { routes?: Route[] }))
    .flatMap((file) => file.routes ?? []);
});

describe("RBAC for the example", () => {
  it("finds the example's routes", () => {
    expect(routes.map((r) => r.prefix).sort()).toEqual(["/cache", "/k8s", "/orders"]);
  });

  it("grants exactly what the routes need: get/list/watch pods, list/watch endpointslices", () => {
    const role = find(manifests, "Role", "attache-demo");
    expect(needs(routes, namespace)).toEqual([
      "discovery.k8s.io|endpointslices|list",
      "discovery.k8s.io|endpointslices|watch",
      "|pods|get",
      "|pods|list",
      "|pods|watch",
    ]);
    expect(grants(role)).toEqual(needs(routes, namespace));
  });

  it("has no wildcard, no secrets, no write verb", () => {
    const all = grants(find(manifests, "Role", "attache-demo"));
    for (const g of all) {
      expect(g).not.toMatch(/\*/);
      expect(g).not.toMatch(/\|secrets\|/);
      expect(g).not.toMatch(/\|(create|update|patch|delete|deletecollection|impersonate|escalate|bind)$/);
    }
  });

  it("does not let the /k8s route reach beyond the namespace, secrets, exec or writes", () => {
    const k8s = routes.find((r) => r.prefix === "/k8s")!;
    expect(permits(k8s, "GET", "/api/v1/pods")).toBe(false); // all namespaces: would need a ClusterRole
    expect(permits(k8s, "GET", "/api/v1/nodes")).toBe(false);
    expect(permits(k8s, "GET", `/api/v1/namespaces/${namespace}/secrets`)).toBe(false);
    expect(permits(k8s, "GET", `/api/v1/namespaces/${namespace}/pods/x/exec`)).toBe(false);
    expect(permits(k8s, "POST", `/api/v1/namespaces/${namespace}/pods`)).toBe(false);
    expect(permits(k8s, "GET", `/api/v1/namespaces/${namespace}/pods`)).toBe(true);
  });

  it("derives new needs from the routes (so a route change without a Role change fails)", () => {
    const k8s = routes.find((r) => r.prefix === "/k8s")!;
    const wider = { ...k8s, methods: ["GET", "DELETE"] };
    expect(needs([wider], namespace)).toContain("|pods|delete");
    expect(needs([{ ...k8s, allow: [{ path: "^/api/v1/namespaces/[^/]+/secrets$" }] }], namespace)).toEqual([
      "|secrets|list",
      "|secrets|watch",
    ]);
  });

  it("binds the Role to the pod's ServiceAccount only, and no cluster-wide grant exists", () => {
    const { pod } = podView(manifests);
    const sa = find(manifests, "ServiceAccount", pod.serviceAccountName);
    const binding = find(manifests, "RoleBinding", "attache-demo");
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "attache-demo" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: sa.metadata.name, namespace }]);
    expect(manifests.filter((m) => /^Cluster/.test(m.doc.kind))).toEqual([]);
    expect(manifests.filter((m) => m.doc.kind === "RoleBinding" || m.doc.kind === "Role")).toHaveLength(2);
  });
});
