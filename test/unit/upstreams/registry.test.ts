import { afterEach, describe, expect, it } from "vitest";
import { UPSTREAM_KINDS } from "../../../src/config/schema.js";
import { loadConfig } from "../../../src/config/validate.js";
import { kindNameOf, kindOf, UPSTREAM_KIND_REGISTRY } from "../../../src/upstreams/registry.js";
import { tempConfig } from "../../harness/attache.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function routesOf(yaml: string) {
  const { dir, remove } = tempConfig(yaml);
  cleanups.push(remove);
  const { config, problems } = await loadConfig({ configPath: dir, env: {} });
  expect(problems).toEqual([]);
  return config!.routes;
}

describe("the upstream registry", () => {
  it("has one entry for every kind the schema accepts, and no other", () => {
    expect(Object.keys(UPSTREAM_KIND_REGISTRY).sort()).toEqual([...UPSTREAM_KINDS].sort());
  });

  it("finds each route's kind and sums it up in one line for `attache routes`", async () => {
    const routes = await routesOf(
      [
        "routes:",
        "  - { prefix: /web, upstream: { http: { endpoints: [http://127.0.0.1:9000] } } }",
        "  - { prefix: /dns, upstream: { http: { discovery: { dns: { name: web.shop.test, port: 80 } } } } }",
        "  - { prefix: /k8s, upstream: { kubernetes: { server: https://127.0.0.1:6443 } } }",
        "  - { prefix: /cache, upstream: { redis: { url: redis://127.0.0.1:6379, listen: 127.0.0.1:6380 } } }",
        "  - { prefix: /ha, upstream: { redis: { sentinels: [127.0.0.1:26379], name: main } } }",
        "",
      ].join("\n"),
    );
    expect(routes.map((r) => [kindNameOf(r), kindOf(r).summary(r)])).toEqual([
      ["http", "http http://127.0.0.1:9000"],
      ["http", "http dns:web.shop.test"],
      ["kubernetes", "kubernetes https://127.0.0.1:6443"],
      ["redis", "redis redis://127.0.0.1:6379 resp:127.0.0.1:6380"],
      ["redis", "redis sentinel:main"],
    ]);
  });

  it("refuses to build a route whose kind was not loaded, naming the route", async () => {
    const [route] = await routesOf("routes:\n  - { prefix: /k8s, upstream: { kubernetes: { server: https://127.0.0.1:6443 } } }\n");
    expect(() => kindOf(route!).create(route!, undefined as never, undefined as never)).toThrow(
      /route \/k8s: loadUpstreamKinds\(\) was not called/,
    );
  });
});
