/** Every EndpointSource runs the shared suite: static, dns (local DNS server), kubernetes (fake API). */
import { StaticSource } from "../../src/discovery/static.js";
import { DnsSource } from "../../src/discovery/dns.js";
import { KubernetesEndpointSliceSource } from "../../src/discovery/kubernetes-endpointslices.js";
import { openKubeApiConnection } from "../../src/kubernetes-api/connection.js";
import { startDnsServer } from "../harness/dns-server.js";
import { FakeService } from "../harness/fake-endpointslices.js";
import { startFakeKubeApi } from "../harness/fake-kube-api.js";
import { configureLog } from "../../src/observability/log.js";
import { endpointSourceSuite } from "./endpoint-source.suite.js";

configureLog({ level: "error", format: "json" });

endpointSourceSuite("static", async () => ({
  source: new StaticSource(["http://10.0.0.1:8080", "https://svc.example:8443/base"]),
  initial: ["http://10.0.0.1:8080", "https://svc.example:8443/base"],
  cleanup: async () => {},
}));

endpointSourceSuite("dns (A/AAAA)", async () => {
  const dns = await startDnsServer();
  dns.set("orders.test", { A: ["127.0.0.2", "127.0.0.3"], AAAA: ["::1"] });
  return {
    source: new DnsSource({ route: "conformance", name: "orders.test", port: 8080, interval: 50, servers: [dns.address] }),
    initial: ["http://127.0.0.2:8080", "http://127.0.0.3:8080", "http://[::1]:8080"],
    update: async () => {
      dns.set("orders.test", { A: ["127.0.0.3", "127.0.0.4"] });
      return ["http://127.0.0.3:8080", "http://127.0.0.4:8080"];
    },
    cleanup: () => dns.close(),
  };
});

endpointSourceSuite("dns (SRV)", async () => {
  const dns = await startDnsServer();
  dns.set("_http._tcp.orders.test", {
    SRV: [
      { target: "a.orders.test", port: 8081 },
      { target: "b.orders.test", port: 8082 },
    ],
  });
  dns.set("a.orders.test", { A: ["127.0.0.2"] });
  dns.set("b.orders.test", { A: ["127.0.0.3"] });
  return {
    source: new DnsSource({ route: "conformance", name: "_http._tcp.orders.test", interval: 50, servers: [dns.address] }),
    initial: ["http://127.0.0.2:8081", "http://127.0.0.3:8082"],
    update: async () => {
      dns.set("_http._tcp.orders.test", { SRV: [{ target: "a.orders.test", port: 8081 }] });
      return ["http://127.0.0.2:8081"];
    },
    cleanup: () => dns.close(),
  };
});

endpointSourceSuite("kubernetes EndpointSlices", async () => {
  const api = await startFakeKubeApi();
  const orders = new FakeService(api, "orders", "shop");
  orders.slice("orders-a", [{ ip: "127.0.0.2" }, { ip: "127.0.0.3" }, { ip: "127.0.0.4", ready: false }], [{ name: "http", port: 8080 }]);
  return {
    source: new KubernetesEndpointSliceSource({
      route: "conformance",
      service: "orders",
      namespace: "shop",
      port: "http",
      connect: () => openKubeApiConnection({ server: api.url, tokenFile: api.volume.tokenFile, caFile: api.certs.caFile }),
    }),
    initial: ["http://127.0.0.2:8080", "http://127.0.0.3:8080"],
    update: async () => {
      orders.slice("orders-a", [{ ip: "127.0.0.3" }, { ip: "127.0.0.4" }], [{ name: "http", port: 8080 }]);
      return ["http://127.0.0.3:8080", "http://127.0.0.4:8080"];
    },
    cleanup: () => api.close(),
  };
});
