import { describe, expect, it } from "vitest";
import { parseEvent } from "../../../../src/upstreams/redis/failover/sentinel-watch.js";

describe("Sentinel failover events", () => {
  it("name the new master for our master name only", () => {
    expect(parseEvent("+switch-master", "cache 127.0.0.1 6379 127.0.0.1 6380", "cache")).toEqual({ host: "127.0.0.1", port: 6380 });
    expect(parseEvent("+switch-master", "other 127.0.0.1 6379 127.0.0.1 6380", "cache")).toBeUndefined();
    expect(parseEvent("+promoted-slave", "slave 10.0.0.2:6380 10.0.0.2 6380 @ cache 10.0.0.1 6379", "cache")).toEqual({
      host: "10.0.0.2",
      port: 6380,
    });
    expect(parseEvent("+failover-state-wait-promotion", "slave 10.0.0.2:6380 10.0.0.2 6380 @ cache 10.0.0.1 6379", "cache")).toEqual({
      host: "10.0.0.2",
      port: 6380,
    });
    expect(
      parseEvent("+failover-state-wait-promotion", "slave 10.0.0.2:6380 10.0.0.2 6380 @ cachex 10.0.0.1 6379", "cache"),
    ).toBeUndefined();
    expect(parseEvent("+switch-master", "cache 127.0.0.1", "cache")).toBeUndefined();
  });
});
