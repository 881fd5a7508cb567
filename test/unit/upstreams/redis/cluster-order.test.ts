import { describe, expect, it } from "vitest";
import { ClientSlotOrder } from "../../../../src/upstreams/redis/failover/cluster-order.js";

const args = (...s: string[]) => s.map((x) => Buffer.from(x));
let moving = false;

describe("one client's order per slot on a cluster route", () => {
  it("pipelines to one node, and holds a command for another node until the earlier ones are answered", async () => {
    const order = new ClientSlotOrder(() => moving);
    let node = "a:1";
    const sent: string[] = [];
    const answers = new Map<string, () => void>();
    const send = (name: string) => () => {
      sent.push(`${name}@${node}`);
      return new Promise<string>((resolve) => answers.set(name, () => resolve(name)));
    };
    const first = order.run(args("RPUSH", "k", "1"), () => node, send("1"));
    const second = order.run(args("RPUSH", "k", "2"), () => node, send("2"));
    expect(sent).toEqual(["1@a:1", "2@a:1"]); // same node: both in flight at once
    node = "b:2"; // the slot moved
    const third = order.run(args("RPUSH", "k", "3"), () => node, send("3"));
    const other = order.run(args("RPUSH", "other-key", "x"), () => node, send("x"));
    expect(sent).toEqual(["1@a:1", "2@a:1", "x@b:2"]); // 3 waits; another slot does not
    answers.get("1")!();
    await first;
    expect(sent).toHaveLength(3);
    answers.get("2")!();
    await second;
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual(["1@a:1", "2@a:1", "x@b:2", "3@b:2"]);
    answers.get("3")!();
    answers.get("x")!();
    expect(await third).toBe("3");
    expect(await other).toBe("x");
  });

  it("while slots move, one command per slot at a time, even to one node", async () => {
    moving = true;
    try {
      const order = new ClientSlotOrder(() => moving);
      const sent: string[] = [];
      const answers: Array<() => void> = [];
      const send = (name: string) => () => {
        sent.push(name);
        return new Promise<void>((resolve) => answers.push(resolve));
      };
      const a = order.run(args("RPUSH", "k", "1"), () => "a:1", send("1"));
      const b = order.run(args("RPUSH", "k", "2"), () => "a:1", send("2"));
      expect(sent).toEqual(["1"]);
      answers[0]!();
      await a;
      await new Promise((r) => setImmediate(r));
      expect(sent).toEqual(["1", "2"]);
      answers[1]!();
      await b;
    } finally {
      moving = false;
    }
  });

  it("a waiting command gives up at its deadline", async () => {
    const order = new ClientSlotOrder(() => moving);
    let node = "a:1";
    const controller = new AbortController();
    void order.run(
      args("SET", "k", "1"),
      () => node,
      () => new Promise(() => {}),
    );
    node = "b:2";
    const waiting = order.run(
      args("SET", "k", "2"),
      () => node,
      () => Promise.resolve("sent"),
      controller.signal as never,
    );
    controller.abort(new Error("deadline"));
    await expect(waiting).rejects.toThrow("deadline");
  });
});
