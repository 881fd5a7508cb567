/**
 * PromQL in the alert rules and the dashboard, parsed with Prometheus's own grammar
 * (@prometheus-io/lezer-promql), checked against the metrics attache really exports: the names and
 * label names registered in src/observability/metrics.ts (prom-client's process metrics included).
 */
import { parser } from "@prometheus-io/lezer-promql";
import "../../src/observability/endpoint-metrics.js";
import "../../src/observability/metrics.js";
import { registry, startDefaultMetrics } from "../../src/observability/registry.js";
import "../../src/observability/route-meter.js";

/** Series that come from Prometheus itself and kube-state-metrics, not from attache. */
export const CLUSTER_METRICS: Record<string, readonly string[]> = {
  up: [],
  kube_pod_init_container_status_ready: ["container", "uid"],
  kube_pod_status_phase: ["phase", "uid"],
};

/** Labels Prometheus adds to every series scraped by a PodMonitor. */
const TARGET_LABELS = ["job", "namespace", "pod", "container", "instance", "endpoint", "service"];

/** Every metric name a query may select from attache, with its label names (histograms as their _bucket/_sum/_count series). */
export async function exportedMetrics(): Promise<Map<string, readonly string[]>> {
  await startDefaultMetrics();
  const types = new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
  const known = new Map<string, readonly string[]>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, labelNames } = metric as unknown as { name: string; labelNames: string[] };
    if (types.get(name) === "histogram") {
      known.set(`${name}_bucket`, [...labelNames, "le"]);
      for (const suffix of ["_sum", "_count"]) known.set(name + suffix, labelNames);
    } else known.set(name, labelNames);
  }
  return known;
}

/** Grafana's interval variables, replaced as Grafana does before the query reaches Prometheus. */
export function grafanaToPromql(query: string): string {
  return query.replace(/\$__(rate_interval|interval|range)\b/g, "5m");
}

/**
 * Problems of one PromQL expression: syntax errors, selectors without a metric name, metric names
 * attache (or the cluster) does not export, label matchers on labels the metric does not have.
 */
export function promqlProblems(expr: string, known: ReadonlyMap<string, readonly string[]>): string[] {
  const problems: string[] = [];
  const tree = parser.parse(expr);
  tree.iterate({
    enter(node) {
      if (node.type.isError)
        problems.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 10), node.to + 10))}`);
      if (node.name !== "VectorSelector") return;
      const name = node.node.getChild("Identifier");
      if (!name) {
        problems.push(`selector without a metric name: ${expr.slice(node.from, node.to)}`);
        return false;
      }
      const metric = expr.slice(name.from, name.to);
      const labels = known.get(metric) ?? CLUSTER_METRICS[metric];
      if (!labels) {
        problems.push(`unknown metric ${metric}`);
        return false;
      }
      const matchers = node.node.getChild("LabelMatchers");
      for (const label of matchers?.getChildren("UnquotedLabelMatcher") ?? []) {
        const labelName = label.getChild("LabelName");
        const text = labelName ? expr.slice(labelName.from, labelName.to) : "";
        if (!labels.includes(text) && !TARGET_LABELS.includes(text)) problems.push(`${metric} has no label ${JSON.stringify(text)}`);
      }
      return false;
    },
  });
  return problems;
}

/** Metric names an expression selects (for coverage checks). */
export function metricNames(expr: string): string[] {
  const names: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.name !== "VectorSelector") return;
      const name = node.node.getChild("Identifier");
      if (name) names.push(expr.slice(name.from, name.to));
      return false;
    },
  });
  return names;
}
