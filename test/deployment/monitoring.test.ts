/**
 * examples/kubernetes/monitoring: the PodMonitor and PrometheusRule validate against the Prometheus
 * Operator's CRD schemas, the PodMonitor finds every pod running attache, and every PromQL expression
 * (alerts, dashboard panels, dashboard variables) parses and names only metrics, and labels, that
 * attache really exports. The negative cases prove the PromQL check can fail.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hasKubectl, kustomize } from "./kustomize.js";
import { EXAMPLES, find, label, loadManifests, parseManifestText, schemaProblems, type Doc, type Manifest } from "./manifests.js";
import { podView, SIDECAR } from "./pod.js";
import { exportedMetrics, grafanaToPromql, metricNames, promqlProblems } from "./promql.js";
import { unknownFieldProblems } from "./strict-fields.js";

const KUBECTL = hasKubectl();
if (!KUBECTL) console.warn("kubectl not found at /usr/bin/kubectl: the kustomize rendering of monitoring/ is skipped");

const read = (file: string) => readFileSync(join(EXAMPLES, file), "utf8");
const load = (file: string) => parseManifestText(read(file), file);

let known: Map<string, readonly string[]>;
let objects: Manifest[];
let monitor: Doc;
let rules: Doc[];
let dashboard: Doc;

/** Every query of the dashboard: panel targets, then label_values() variables (their selector). */
function dashboardQueries(d: Doc): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const panel of d.panels)
    for (const t of panel.targets ?? [])
      out.push({ where: `panel ${panel.id} "${panel.title}" ${t.refId}`, expr: grafanaToPromql(t.expr) });
  for (const v of d.templating.list.filter((v: Doc) => v.type === "query")) {
    const query = typeof v.query === "string" ? v.query : v.query.query;
    const selector = /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1];
    out.push({ where: `variable ${v.name}`, expr: selector ?? query });
  }
  return out;
}

beforeAll(async () => {
  known = await exportedMetrics();
  objects = [...load("monitoring/podmonitor.yaml"), ...load("monitoring/prometheusrule.yaml")];
  monitor = find(objects, "PodMonitor", "attache");
  rules = find(objects, "PrometheusRule", "attache").spec.groups.flatMap((g: Doc) => g.rules);
  dashboard = JSON.parse(read("monitoring/attache-dashboard.json"));
});

describe("the PodMonitor and the PrometheusRule", () => {
  it("validate against the Prometheus Operator's CRD schemas, with no unknown field", { timeout: 60_000 }, async () => {
    const problems = (await Promise.all(objects.map(async (m) => (await schemaProblems(m.doc)).map((p) => `${label(m)}: ${p}`)))).flat();
    expect(problems).toEqual([]);
    expect(unknownFieldProblems(objects)).toEqual([]);
  });

  it("scrape /metrics on the admin port of the demo's pod and of every pod the Component changes", () => {
    const [endpoint, ...others] = monitor.spec.podMetricsEndpoints;
    expect(others).toEqual([]);
    expect(endpoint.path).toBe("/metrics");
    expect(endpoint.relabelings).toContainEqual({ action: "replace", targetLabel: "job", replacement: "attache" });
    // The operator labels each target namespace, pod, container, job and endpoint (the port name), then
    // applies these relabelings. A scraped label of the same name would become exported_<name>.
    const labelled = new Set([...known.values()].flat());
    const dropped = endpoint.relabelings.filter((r: Doc) => r.action === "labeldrop").map((r: Doc) => new RegExp(`^(?:${r.regex})$`));
    for (const target of ["namespace", "pod", "container", "job", "endpoint"].filter((l) => labelled.has(l)))
      expect(
        dropped.some((re: RegExp) => re.test(target)),
        `target label ${target} collides with attache's`,
      ).toBe(true);
    const demo = podView(loadManifests());
    const component = load("attache-sidecar/sidecar.yaml")[0]!.doc.spec.template;
    for (const [what, template] of [
      ["deployment.yaml", demo.deployment.spec.template],
      ["attache-sidecar/sidecar.yaml", component],
    ] as const) {
      for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(template.metadata.labels[k], what).toBe(v);
      const sidecar = template.spec.initContainers.find((c: Doc) => c.name === SIDECAR);
      expect(sidecar.ports.find((p: Doc) => p.name === endpoint.port)?.containerPort, what).toBe(9901);
    }
  });

  it("alert on an open breaker, a failing reload, a sidecar not ready, refusals by reason and client disconnects by limit", () => {
    const byName = new Map(rules.map((r: Doc) => [r.alert, String(r.expr)]));
    const uses = (alert: string, metric: string) => expect(metricNames(byName.get(alert) ?? ""), alert).toContain(metric);
    uses("AttacheCircuitOpen", "attache_circuit_state");
    expect(byName.get("AttacheCircuitOpen")).toMatch(/== 2$/);
    uses("AttacheConfigReloadFailing", "attache_config_last_reload_successful");
    uses("AttacheSidecarNotReady", "kube_pod_init_container_status_ready");
    expect(byName.get("AttacheSidecarNotReady")).toContain(`container="${SIDECAR}"`);
    uses("AttacheScrapeDown", "up");
    uses("AttacheRefusals", "attache_requests_total");
    expect(byName.get("AttacheRefusals")).toMatch(/sum by \(namespace, route, error\) \(rate\(attache_requests_total\{error!=""\}/);
    uses("AttacheClientDisconnects", "attache_client_disconnects_total");
    expect(byName.get("AttacheClientDisconnects")).toMatch(/by \(namespace, route, reason\)/);
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^\d+m$/);
      expect(r.labels.severity, r.alert).toMatch(/^(critical|warning|info)$/);
      expect(r.annotations.summary, r.alert).toBeTruthy();
    }
  });

  it("query only metrics and labels attache exports (or Prometheus and kube-state-metrics for readiness)", () => {
    expect(rules.length).toBeGreaterThanOrEqual(6);
    expect(rules.flatMap((r: Doc) => promqlProblems(String(r.expr), known).map((p) => `${r.alert}: ${p}`))).toEqual([]);
  });
});

describe("the Grafana dashboard", () => {
  it("is JSON with unique panel ids, each panel on the data source variable", () => {
    expect(dashboard.uid).toBe("attache");
    const ids = dashboard.panels.map((p: Doc) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v: Doc) => v.name === "datasource")).toMatchObject({ type: "datasource", query: "prometheus" });
    for (const panel of dashboard.panels) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: `\${datasource}` });
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos, panel.title).toMatchObject({ w: expect.any(Number), h: expect.any(Number) });
    }
  });

  it("queries only metrics and labels attache exports, in panels and variables", () => {
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(dashboard.panels.length);
    expect(queries.flatMap(({ where, expr }) => promqlProblems(expr, known).map((p) => `${where}: ${p}`))).toEqual([]);
  });

  it("shows traffic, refusals, p99, breakers, inflight, Redis, limits, config state, memory and event-loop lag", () => {
    const used = new Set(dashboardQueries(dashboard).flatMap(({ expr }) => metricNames(expr)));
    for (const metric of [
      "attache_requests_total",
      "attache_request_duration_seconds_bucket",
      "attache_circuit_state",
      "attache_inflight_requests",
      "attache_redis_commands_total",
      "attache_client_disconnects_total",
      "attache_config_generation",
      "attache_config_last_reload_successful",
      "attache_config_rejected_files",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_p99_seconds",
    ])
      expect(used, metric).toContain(metric);
    const refusals = dashboard.panels.flatMap((p: Doc) => p.targets.map((t: Doc) => t.expr)).filter((e: string) => e.includes('error!=""'));
    expect(refusals.join("\n")).toMatch(/by \(route, error\)/);
  });
});

describe.runIf(KUBECTL)("monitoring/ rendered by kustomize", () => {
  it("is the PodMonitor, the PrometheusRule and the dashboard ConfigMap for Grafana's sidecar, in the demo's namespace", () => {
    const rendered = kustomize("monitoring");
    expect(rendered.map((m) => `${m.doc.kind}/${m.doc.metadata.name}`).sort()).toEqual([
      "ConfigMap/attache-grafana-dashboard",
      "PodMonitor/attache",
      "PrometheusRule/attache",
    ]);
    for (const m of rendered) expect(m.doc.metadata.namespace, label(m)).toBe("attache-demo");
    const configMap = find(rendered, "ConfigMap", "attache-grafana-dashboard");
    expect(configMap.metadata.labels.grafana_dashboard).toBe("1");
    expect(configMap.data["attache-dashboard.json"]).toBe(read("monitoring/attache-dashboard.json"));
    expect(find(rendered, "PodMonitor", "attache").spec).toEqual(monitor.spec);
  });
});

describe("the PromQL check can fail", () => {
  it("on an unknown metric, a label the metric lacks, a selector without a name, a syntax error", () => {
    expect(promqlProblems('sum(rate(attache_requests_totl{route="x"}[5m]))', known)).toEqual(["unknown metric attache_requests_totl"]);
    expect(promqlProblems('sum by (route) (rate(attache_requests_total{reason="x"}[5m]))', known)).toEqual([
      'attache_requests_total has no label "reason"',
    ]);
    expect(promqlProblems('rate({__name__="attache_requests_total"}[5m])', known)).toHaveLength(1);
    expect(promqlProblems("sum(rate(attache_requests_total[5m])", known).join()).toMatch(/syntax error/);
    expect(promqlProblems("attache_circuit_state == 2", known)).toEqual([]);
  });
});
