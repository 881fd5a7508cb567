/** Which old RESP listeners a reload closes before binding: decided from the configs alone. */
import { describe, expect, it } from "vitest";
import type { SourceFile } from "../../../src/config/load.js";
import { assemble, checkRootFile, type Config } from "../../../src/config/validate.js";
import { listenersInTheWay } from "../../../src/lifecycle/resp-handover.js";
import { routeKey, type Route } from "../../../src/routing/route.js";

/** The config of a root file with one redis route per `prefix → listen`. */
function config(listeners: Record<string, string>, keyPrefix = "app:"): Config {
  const data = {
    routes: Object.entries(listeners).map(([prefix, listen]) => ({
      prefix,
      upstream: { redis: { url: "redis://127.0.0.1:6379", keyPrefix, listen } },
    })),
  };
  const source: SourceFile = {
    path: "/cfg/attache.yaml",
    text: JSON.stringify(data),
    data,
    problems: [],
    locate: () => ({ line: 0, col: 0 }),
  };
  const assembled = assemble(checkRootFile(source), []);
  expect(assembled.problems).toEqual([]);
  return assembled.config!;
}
/** The old table's routes, as far as the handover reads them (no upstream is built). */
const routes = (c: Config) => c.routes.map((rc) => ({ key: routeKey(rc), name: rc.name, config: rc }) as unknown as Route);
const names = (inTheWay: ReturnType<typeof listenersInTheWay>) => inTheWay.map((x) => `${x.route.name} -> ${x.next}`);

describe("listenersInTheWay", () => {
  it("an unchanged route keeps its listener; a changed route on the same listen string shares the socket", () => {
    const before = routes(config({ "/a": "127.0.0.1:6380", "/b": "127.0.0.1:6381" }));
    expect(names(listenersInTheWay(config({ "/a": "127.0.0.1:6380", "/b": "127.0.0.1:6381" }), before))).toEqual([]);
    expect(names(listenersInTheWay(config({ "/a": "127.0.0.1:6380", "/b": "127.0.0.1:6381" }, "other:"), before))).toEqual([]);
  });

  it("the same port written differently: the old route closes first", () => {
    const before = routes(config({ "/a": "127.0.0.1:6380", "/b": "127.0.0.1:6381" }));
    expect(names(listenersInTheWay(config({ "/a": "localhost:6380", "/b": "127.0.0.1:6381" }), before))).toEqual(["/a -> localhost:6380"]);
  });

  it("a port that moves to another route, written differently, closes its old route; port 0 never does", () => {
    const before = routes(config({ "/a": "127.0.0.1:6380", "/z": "127.0.0.1:0" }));
    expect(names(listenersInTheWay(config({ "/b": "localhost:6380", "/y": "localhost:0" }), before))).toEqual(["/a -> localhost:6380"]);
  });
});
