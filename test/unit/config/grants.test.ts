/** Grants (owners, long and short form): each violation is one problem with file:line:col naming the grant key. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { hostMatches } from "../../../src/config/grants.js";
import { formatProblem } from "../../../src/config/problems.js";
import { loadConfig, type Config } from "../../../src/config/validate.js";
import { DEFAULT_DENY } from "../../../src/upstreams/kubernetes/default-deny.js";
import { tempConfig } from "../../harness/attache.js";

const secrets = mkdtempSync(join(tmpdir(), "attache-grant-secrets-"));
afterAll(() => rmSync(secrets, { recursive: true, force: true }));
mkdirSync(join(secrets, "pay"));
mkdirSync(join(secrets, "kube"));
writeFileSync(join(secrets, "pay/password"), "pw\n");
writeFileSync(join(secrets, "kube/token"), "token\n");
symlinkSync(join(secrets, "kube/token"), join(secrets, "pay/link"));

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function load(root: string, team: string): Promise<{ config: Config | undefined; problems: string[] }> {
  const { dir, remove } = tempConfig(`include: [team.yaml]\n${root}`, { "team.yaml": team });
  cleanups.push(remove);
  const result = await loadConfig({ configPath: dir, env: {} });
  return {
    config: result.config,
    problems: result.problems.map((p) => formatProblem(p).replaceAll(dir, "<dir>").replaceAll(secrets, "<secrets>")),
  };
}

const PAY = `owners:\n  pay:\n    prefixes: [/pay]\n    upstreams: [http, redis, kubernetes]\n    hosts: ["*.shop.svc.cluster.local", 127.0.0.1]\n    secretDirs: ["${secrets}/pay"]\n    redis: { urls: ["redis://cache.shop:6379"], keyPrefix: "pay:", db: 2 }\n`;

describe("grants", () => {
  it("short form: prefixes only, http only, no secret files", async () => {
    const { problems } = await load(
      "owners: { pay: [/pay] }\n",
      `owner: pay\nroutes:\n  - prefix: /pay\n    upstream: { redis: { url: "redis://127.0.0.1:6379" } }\n  - prefix: /pay/h\n    upstream: { http: { endpoints: [http://anywhere.example:80], auth: { bearerTokenFile: ${secrets}/pay/password } } }\n`,
    );
    expect(problems).toEqual([
      "<dir>/team.yaml:4:24: routes[0].upstream.redis: upstream kind redis is not granted to pay (owners.pay.upstreams: http)",
      "<dir>/team.yaml:6:91: routes[1].upstream.http.auth.bearerTokenFile: file <secrets>/pay/password is outside the folders granted to pay for secret files (owners.pay.secretDirs: none)",
    ]);
  });

  it("long form: hosts, secret folders (through symlinks), redis servers, keyPrefix and db", async () => {
    const { problems } = await load(
      PAY,
      [
        "owner: pay",
        "routes:",
        "  - prefix: /pay",
        "    upstream: { http: { endpoints: [http://orders.shop.svc.cluster.local:80, http://evil.example:80] } }",
        "  - prefix: /pay/dns",
        '    upstream: { http: { discovery: { dns: { name: shop.svc.cluster.local, port: 80, servers: ["10.0.0.53:53"] } } } }',
        "  - prefix: /pay/cache",
        `    upstream: { redis: { url: "redis://cache.shop:6379/2", keyPrefix: "pay:sessions:", passwordFile: ${secrets}/pay/link } }`,
        "  - prefix: /pay/other",
        `    upstream: { redis: { url: "rediss://cache.shop:6379/0" } }`,
        "  - prefix: /pay/sentinel",
        `    upstream: { redis: { sentinels: ["cache.shop:6379", "10.0.0.9:26379"], name: m, keyPrefix: "pay:" } }`,
        "",
      ].join("\n"),
    );
    expect(problems).toEqual([
      "<dir>/team.yaml:4:78: routes[0].upstream.http.endpoints[1]: host evil.example is not granted to pay (owners.pay.hosts: *.shop.svc.cluster.local, 127.0.0.1)",
      "<dir>/team.yaml:6:51: routes[1].upstream.http.discovery.dns.name: host shop.svc.cluster.local is not granted to pay (owners.pay.hosts: *.shop.svc.cluster.local, 127.0.0.1)",
      "<dir>/team.yaml:6:94: routes[1].upstream.http.discovery.dns.servers: dns servers of its own are not allowed where owners.pay.hosts restricts targets: names are resolved by the pod's resolvers",
      "<dir>/team.yaml:8:102: routes[2].upstream.redis.passwordFile: file <secrets>/pay/link is outside the folders granted to pay for secret files (owners.pay.secretDirs: <secrets>/pay)",
      '<dir>/team.yaml:10:24: routes[3].upstream.redis: keyPrefix must start with "pay:" (owners.pay.redis.keyPrefix)',
      "<dir>/team.yaml:10:31: routes[3].upstream.redis.url: redis server rediss://cache.shop:6379 is not granted to pay (owners.pay.redis.urls: redis://cache.shop:6379)",
      "<dir>/team.yaml:10:31: routes[3].upstream.redis.url: database 0 is not granted to pay: use db 2 (owners.pay.redis.db)",
      "<dir>/team.yaml:12:24: routes[4].upstream.redis: database 0 is not granted to pay: the platform pins db 2, which only a url route can select (owners.pay.redis.db)",
      "<dir>/team.yaml:12:57: routes[4].upstream.redis.sentinels[1]: redis server 10.0.0.9:26379 is not granted to pay (owners.pay.redis.urls: redis://cache.shop:6379)",
    ]);
  });

  it("kubernetes: a team route adds to the floor (built-in + root kubernetes.deny); deny: [] needs liftDeny", async () => {
    const root = `kubernetes: { deny: [{ path: "/secrets" }] }\nowners:\n  ops: { prefixes: [/ops], upstreams: [kubernetes] }\n  admin: { prefixes: [/admin], upstreams: [kubernetes], kubernetes: { liftDeny: true } }\n`;
    const floor = [...DEFAULT_DENY.map((r) => r.path), "/secrets"];
    const ok = await load(
      root,
      `routes:\n  - prefix: /ops\n    upstream: { kubernetes: {} }\n  - prefix: /ops/more\n    deny: [{ path: "/configmaps" }]\n    upstream: { kubernetes: {} }\n`.replace(
        "routes:",
        "owner: ops\nroutes:",
      ),
    );
    expect(ok.problems).toEqual([]);
    expect(ok.config!.routes.map((r) => r.deny?.map((d) => d.path))).toEqual([floor, [...floor, "/configmaps"]]);
    expect(ok.config!.routes[1]!.source.admittedBy).toEqual({
      by: "owners.ops",
      matched: ["prefix /ops", "upstream kubernetes", "deny floor + 1 rule(s)"],
    });

    const lifted = await load(root, `owner: admin\nroutes:\n  - prefix: /admin\n    deny: []\n    upstream: { kubernetes: {} }\n`);
    expect(lifted.problems).toEqual([]);
    expect(lifted.config!.routes[0]!.deny).toEqual([]);

    const refused = await load(root, `owner: ops\nroutes:\n  - prefix: /ops\n    deny: []\n    upstream: { kubernetes: {} }\n`);
    expect(refused.problems).toEqual([
      "<dir>/team.yaml:4:11: routes[0].deny: deny: [] would lift the platform's kubernetes deny floor; owners.ops.kubernetes.liftDeny grants that (deny rules written here are added to the floor)",
    ]);
  });

  it("kubernetes: identityHeaders: pass needs liftDeny too", async () => {
    const root = `owners:\n  ops: { prefixes: [/ops], upstreams: [kubernetes] }\n  admin: { prefixes: [/admin], upstreams: [kubernetes], kubernetes: { liftDeny: true } }\n`;
    const refused = await load(root, `owner: ops\nroutes:\n  - prefix: /ops\n    upstream: { kubernetes: { identityHeaders: pass } }\n`);
    expect(refused.problems).toEqual([
      "<dir>/team.yaml:4:48: routes[0].upstream.kubernetes.identityHeaders: identityHeaders: pass would let the app impersonate whoever attache's ServiceAccount may; owners.ops.kubernetes.liftDeny grants that",
    ]);
    expect(
      (await load(root, `owner: admin\nroutes:\n  - prefix: /admin\n    upstream: { kubernetes: { identityHeaders: pass } }\n`)).problems,
    ).toEqual([]);
  });

  it("kubernetes discovery: another API server needs the kubernetes grant; with hosts, the namespace is named and matched", async () => {
    const { problems } = await load(
      PAY.replace("upstreams: [http, redis, kubernetes]", "upstreams: [http]"),
      [
        "owner: pay",
        "routes:",
        "  - prefix: /pay/a",
        '    upstream: { http: { discovery: { kubernetes: { service: orders, namespace: shop, port: 80, server: "https://10.0.0.1" } } } }',
        "  - prefix: /pay/b",
        "    upstream: { http: { discovery: { kubernetes: { service: orders, port: 80 } } } }",
        "  - prefix: /pay/c",
        "    upstream: { http: { discovery: { kubernetes: { service: orders, namespace: bank, port: 80 } } } }",
        "",
      ].join("\n"),
    );
    expect(problems).toEqual([
      "<dir>/team.yaml:4:104: routes[0].upstream.http.discovery.kubernetes.server: server chooses where the pod's Kubernetes credentials go; only a team granted the kubernetes upstream may set it (owners.pay.upstreams)",
      "<dir>/team.yaml:6:61: routes[1].upstream.http.discovery.kubernetes.service: name the service's namespace: owners.pay.hosts restricts targets to *.shop.svc.cluster.local, 127.0.0.1",
      "<dir>/team.yaml:8:61: routes[2].upstream.http.discovery.kubernetes.service: host orders.bank.svc.cluster.local is not granted to pay (owners.pay.hosts: *.shop.svc.cluster.local, 127.0.0.1)",
    ]);
  });

  it("a route inside every grant is admitted, and says by what", async () => {
    const { config, problems } = await load(
      PAY,
      `owner: pay\nroutes:\n  - prefix: /pay/cache\n    upstream: { redis: { url: "redis://cache.shop:6379/2", keyPrefix: "pay:s:", passwordFile: ${secrets}/pay/password } }\n`,
    );
    expect(problems).toEqual([]);
    expect(config!.routes[0]!.source.admittedBy).toEqual({
      by: "owners.pay",
      matched: ["prefix /pay", "upstream redis", "redis redis://cache.shop:6379", 'keyPrefix "pay:"', "db 2", `secretDir ${secrets}/pay`],
    });
  });

  it("without owners everything stays allowed, as before grants; root-file routes are never restricted", async () => {
    const { config, problems } = await load(
      `routes:\n  - prefix: /k8s\n    deny: []\n    upstream: { kubernetes: {} }\n`,
      `routes:\n  - prefix: /t\n    deny: []\n    upstream: { kubernetes: { tokenFile: ${secrets}/kube/token } }\n`,
    );
    expect(problems).toEqual([]);
    expect(config!.routes.map((r) => [r.prefix, r.deny, r.source.admittedBy.by])).toEqual([
      ["/k8s", [], "root file"],
      ["/t", [], "no owners"],
    ]);
  });

  it("host patterns: *.domain matches names under it, not the domain itself; case does not matter", () => {
    expect(hostMatches("orders.shop.svc.cluster.local", "*.shop.svc.cluster.local")).toBe(true);
    expect(hostMatches("a.b.shop.svc.cluster.local", "*.shop.svc.cluster.local")).toBe(true);
    expect(hostMatches("ORDERS.Shop.svc.cluster.local", "*.shop.svc.cluster.local")).toBe(true);
    expect(hostMatches("shop.svc.cluster.local", "*.shop.svc.cluster.local")).toBe(false);
    expect(hostMatches("evilshop.svc.cluster.local", "*.shop.svc.cluster.local")).toBe(false);
    expect(hostMatches("127.0.0.1", "127.0.0.1")).toBe(true);
  });

  it("files ties an owner name to the team's own files: another file naming it is refused", async () => {
    const root = `include: [routes.d/*/*.yaml]\nowners:\n  pay: { prefixes: [/pay], files: [routes.d/pay/] }\n  web: [/web]\n`;
    const { dir, remove } = tempConfig(root, {
      "routes.d/pay/routes.yaml": `owner: pay\nroutes:\n  - prefix: /pay\n    upstream: { http: { endpoints: [http://127.0.0.1:9000] } }\n`,
      "routes.d/web/routes.yaml": `owner: pay\nroutes:\n  - prefix: /pay/x\n    upstream: { http: { endpoints: [http://127.0.0.1:9000] } }\n`,
    });
    cleanups.push(remove);
    const result = await loadConfig({ configPath: dir, env: {} });
    expect(result.problems.map((p) => formatProblem(p).replaceAll(dir, "<dir>"))).toEqual([
      "<dir>/routes.d/web/routes.yaml:1:8: owner: this file may not name owner pay: owners.pay.files allows routes.d/pay/",
    ]);
  });

  it("a kubeconfig in a granted folder must not lead out of it, nor run a plugin", async () => {
    writeFileSync(
      join(secrets, "pay/kubeconfig"),
      [
        "apiVersion: v1",
        "clusters: [{ name: c, cluster: { server: https://10.0.0.1, certificate-authority: ../kube/token } }]",
        "users: [{ name: u, user: { token-file: token-here } }, { name: p, user: { exec: { command: /bin/sh, apiVersion: client.authentication.k8s.io/v1 } } }]",
        "contexts: [{ name: x, context: { cluster: c, user: u } }]",
        "current-context: x",
        "",
      ].join("\n"),
    );
    writeFileSync(join(secrets, "pay/token-here"), "t\n");
    const { problems } = await load(
      `owners:\n  pay: { prefixes: [/pay], upstreams: [kubernetes], secretDirs: [${JSON.stringify(`${secrets}/pay`)}] }\n`,
      `owner: pay\nroutes:\n  - prefix: /pay\n    upstream: { kubernetes: { kubeconfig: ${secrets}/pay/kubeconfig } }\n`,
    );
    expect(problems).toEqual([
      `<dir>/team.yaml:4:43: routes[0].upstream.kubernetes.kubeconfig: kubeconfig clusters[c].certificate-authority names <secrets>/kube/token, outside the folders granted to pay for secret files (owners.pay.secretDirs: <secrets>/pay)`,
      "<dir>/team.yaml:4:43: routes[0].upstream.kubernetes.kubeconfig: kubeconfig users[p].exec would run a plugin inside attache; only a kubeconfig named in the root file may",
    ]);
  });

  it("a kubeconfig naming a FIFO as its token-file is a problem for any file, granted or not", async () => {
    const { execFileSync } = await import("node:child_process");
    const dir = mkdtempSync(join(tmpdir(), "attache-kubeconfig-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync("mkfifo", [join(dir, "token")]);
    writeFileSync(join(dir, "kubeconfig"), "users: [{ name: u, user: { token-file: token } }]\n");
    const { problems } = await load("", `routes:\n  - prefix: /k\n    upstream: { kubernetes: { kubeconfig: ${dir}/kubeconfig } }\n`);
    expect(problems.map((p) => p.replaceAll(dir, "<k>"))).toEqual([
      "<dir>/team.yaml:3:43: routes[0].upstream.kubernetes.kubeconfig: kubeconfig <k>/kubeconfig: users[u].token-file <k>/token is a FIFO, not a regular file",
    ]);
  });

  it(`\${VAR} in a team file needs the variable in the grant's env: attache's environment may hold secrets`, async () => {
    const { dir, remove } = tempConfig(`include: [team.yaml]\nowners:\n  pay: { prefixes: [/pay], env: [NS] }\n`, {
      "team.yaml": `owner: pay\nroutes:\n  - prefix: /pay\n    headers: { set: { x-ns: "\${NS}", x-leak: "\${REDIS_PASSWORD:-none}" } }\n    upstream: { http: { endpoints: [http://127.0.0.1:9000] } }\n`,
    });
    cleanups.push(remove);
    const result = await loadConfig({ configPath: dir, env: { NS: "shop", REDIS_PASSWORD: "hunter2" } });
    expect(result.problems.map((p) => formatProblem(p).replaceAll(dir, "<dir>"))).toEqual([
      "<dir>/team.yaml:4:46: routes[0].headers.set.x-leak: environment variable REDIS_PASSWORD is not granted to pay (owners.pay.env: NS)",
    ]);
  });
});
