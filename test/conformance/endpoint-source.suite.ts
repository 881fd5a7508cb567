/**
 * The EndpointSource contract, one suite for every source (static, dns, kubernetes EndpointSlices):
 * hono's router/common.case.test.ts applied to discovery. Each source's test file supplies a fixture.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint, EndpointSource } from "../../src/discovery/endpoint-source.js";

export interface SourceFixture {
  source: EndpointSource;
  /** Endpoint ids the source must report once start() has resolved. */
  initial: string[];
  /**
   * Change what the source watches (absent for sources that never change): resolves with the ids
   * the source must report after it has noticed.
   */
  update?: () => Promise<string[]>;
  cleanup(): Promise<void>;
}

export function endpointSourceSuite(name: string, make: () => Promise<SourceFixture>): void {
  describe(`EndpointSource conformance: ${name}`, () => {
    let fixture: SourceFixture | undefined;
    afterEach(async () => {
      fixture?.source.close();
      await fixture?.cleanup();
      fixture = undefined;
    });

    it("reports its endpoints once start() resolves", async () => {
      fixture = await make();
      await fixture.source.start();
      expect(ids(fixture.source.endpoints())).toEqual([...fixture.initial].sort());
    });

    it("start() is idempotent", async () => {
      fixture = await make();
      await Promise.all([fixture.source.start(), fixture.source.start()]);
      await fixture.source.start();
      expect(ids(fixture.source.endpoints())).toEqual([...fixture.initial].sort());
    });

    it("hands out well-formed, frozen endpoints whose id is their URL", async () => {
      fixture = await make();
      await fixture.source.start();
      for (const e of fixture.source.endpoints()) {
        expect(Object.isFrozen(e)).toBe(true);
        expect(["http:", "https:"]).toContain(e.protocol);
        expect(e.port).toBeGreaterThan(0);
        const host = e.host.includes(":") ? `[${e.host}]` : e.host;
        const defaultPort = e.port === (e.protocol === "https:" ? 443 : 80);
        expect(e.id).toBe(`${e.protocol}//${host}${defaultPort ? "" : `:${e.port}`}${e.basePath}`);
      }
    });

    it("describes itself with a source name and the kind it is", async () => {
      fixture = await make();
      await fixture.source.start();
      const d = fixture.source.describe();
      expect(typeof d.source).toBe("string");
      expect(typeof fixture.source.kind).toBe("string");
      expect(() => JSON.stringify(d)).not.toThrow();
    });

    it("emits change with the new list when what it watches changes, and says when", async () => {
      fixture = await make();
      if (!fixture.update) return;
      await fixture.source.start();
      const before = fixture.source.describe().lastChange;
      const changed = new Promise<readonly Endpoint[]>((resolve) => fixture!.source.once("change", resolve));
      const expected = await fixture.update();
      const list = await changed;
      expect(ids(list)).toEqual([...expected].sort());
      expect(ids(fixture.source.endpoints())).toEqual([...expected].sort());
      const after = fixture.source.describe().lastChange;
      expect(typeof after).toBe("string");
      expect(after).not.toBe(before);
    });

    it("emits nothing after close()", async () => {
      fixture = await make();
      if (!fixture.update) return;
      await fixture.source.start();
      let changes = 0;
      fixture.source.on("change", () => changes++);
      fixture.source.close();
      await fixture.update();
      await new Promise((r) => setTimeout(r, 300));
      expect(changes).toBe(0);
    });
  });
}

function ids(list: readonly Endpoint[]): string[] {
  return list.map((e) => e.id).sort();
}
