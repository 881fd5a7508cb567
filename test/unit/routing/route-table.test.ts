import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/validate.js";
import { RouteTable } from "../../../src/routing/route-table.js";
import type { Upstream } from "../../../src/upstreams/upstream.js";
import { tempConfig } from "../../harness/attache.js";

const fake = (): Upstream => ({
  kind: "http",
  handle: async () => {},
  readiness: async () => {},
  describe: () => ({}),
  close: async () => {},
});
const up = "upstream: { http: { endpoints: [http://127.0.0.1:9] } }";

const cfg = tempConfig(`
routes:
  - { prefix: /, ${up} }
  - { prefix: /pay, ${up} }
  - { prefix: /payments, ${up} }
  - { prefix: /payments/v2, ${up}, stripPrefix: false }
  - { prefix: /a.b, ${up} }
`);
afterAll(() => cfg.remove());

async function table(): Promise<RouteTable> {
  const loaded = await loadConfig({ configPath: cfg.dir });
  expect(loaded.problems).toEqual([]);
  return RouteTable.build(loaded.config!, fake);
}

describe("RouteTable.match", () => {
  it.each([
    ["/pay", "/pay"],
    ["/pay/", "/pay"],
    ["/pay/x/y", "/pay"],
    ["/payments", "/payments"],
    ["/payments/1", "/payments"],
    ["/payments/v2", "/payments/v2"],
    ["/payments/v2/x", "/payments/v2"],
    ["/payments/v22", "/payments"],
    ["/paym", "/"],
    ["/PAY", "/"],
    ["/a.b/c", "/a.b"],
    ["/", "/"],
  ])("%s → %s (longest prefix, segment boundaries)", async (path, prefix) => {
    expect((await table()).match(path)?.prefix).toBe(prefix);
  });

  it("without a / route, an unmatched path has no route", async () => {
    const c = tempConfig(`routes: [{ prefix: /pay, ${up} }]`);
    try {
      const loaded = await loadConfig({ configPath: c.dir });
      const t = RouteTable.build(loaded.config!, fake);
      expect(t.match("/payments")).toBeUndefined();
      expect(t.match("/")).toBeUndefined();
    } finally {
      c.remove();
    }
  });
});

describe("Route paths", () => {
  it("strips the prefix by default and keeps it with stripPrefix: false; policy always sees the part after it", async () => {
    const t = await table();
    const pay = t.match("/pay/x")!;
    expect(pay.forwardPath("/pay/x")).toBe("/x");
    expect(pay.forwardPath("/pay")).toBe("/");
    expect(pay.policyPath("/x")).toBe("/x");
    const v2 = t.match("/payments/v2/x")!;
    expect(v2.forwardPath("/payments/v2/x")).toBe("/payments/v2/x");
    expect(v2.policyPath("/payments/v2/x")).toBe("/x");
    expect(v2.policyPath("/payments/v2")).toBe("/");
    const root = t.match("/z")!;
    expect(root.forwardPath("/z")).toBe("/z");
  });
});
