/** The grant check of an http route: endpoints, DNS discovery names and Kubernetes discovery, against `hosts`. */
import type { RouteConfig } from "../schema.js";
import type { Grant, GrantProblem } from "./grant.js";

type HttpConfig = NonNullable<RouteConfig["upstream"]["http"]>;

/** Every target of an http route (endpoints, discovery names) must match one of the grant's `hosts`, when it lists any. */
export function checkHttp(http: HttpConfig, grant: Grant, key: string, problems: GrantProblem[], matched: string[]): void {
  const target = (names: string[], path: PropertyKey[], shown: string) => {
    if (!grant.hosts) return;
    const hit = grant.hosts.find((pattern) => names.some((n) => hostMatches(n, pattern)));
    if (hit) {
      if (!matched.includes(`host ${hit}`)) matched.push(`host ${hit}`);
    } else
      problems.push({ path, message: `host ${shown} is not granted to ${grant.team} (${key}.hosts: ${grant.hosts.join(", ") || "none"})` });
  };
  http.endpoints?.forEach((url, i) => {
    const host = new URL(url).hostname;
    target([host], ["upstream", "http", "endpoints", i], host);
  });
  const dns = http.discovery?.dns;
  if (dns) {
    target([dns.name], ["upstream", "http", "discovery", "dns", "name"], dns.name);
    // Its own DNS servers could answer any address for a granted name.
    if (grant.hosts && dns.servers)
      problems.push({
        path: ["upstream", "http", "discovery", "dns", "servers"],
        message: `dns servers of its own are not allowed where ${key}.hosts restricts targets: names are resolved by the pod's resolvers`,
      });
  }
  const k8s = http.discovery?.kubernetes;
  if (k8s) {
    const base = ["upstream", "http", "discovery", "kubernetes"];
    // Another API server or kubeconfig would receive the pod's Kubernetes credentials.
    for (const connection of ["server", "kubeconfig", "context"] as const) {
      if (k8s[connection] !== undefined && !grant.upstreams.includes("kubernetes")) {
        problems.push({
          path: [...base, connection],
          message: `${connection} chooses where the pod's Kubernetes credentials go; only a team granted the kubernetes upstream may set it (${key}.upstreams)`,
        });
      }
    }
    if (grant.hosts && k8s.namespace === undefined) {
      problems.push({
        path: [...base, "service"],
        message: `name the service's namespace: ${key}.hosts restricts targets to ${grant.hosts.join(", ") || "none"}`,
      });
    } else if (k8s.namespace !== undefined) {
      const name = `${k8s.service}.${k8s.namespace}.svc`;
      target([name, `${name}.cluster.local`], [...base, "service"], `${name}.cluster.local`);
    }
  }
}
/** `*.example.com` matches names under example.com (not example.com itself); anything else matches exactly. */
export function hostMatches(host: string, pattern: string): boolean {
  const h = host.toLowerCase();
  return pattern.startsWith("*.") ? h.endsWith(pattern.slice(1)) && h.length > pattern.length - 1 : h === pattern;
}
