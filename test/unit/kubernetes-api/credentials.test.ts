/** Credential resolution: explicit, in-cluster, kubeconfig (merge, context, every user kind), overrides, nothing found. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { OutgoingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuthorizer } from "../../../src/kubernetes-api/authorizer.js";
import type { Plan } from "../../../src/kubernetes-api/credential-plan.js";
import { resolveCredentials } from "../../../src/kubernetes-api/credentials.js";

let dir: string;
let sa: string;
const noEnv = (extra: Record<string, string> = {}) => ({ HOME: join(dir, "home"), ...extra });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "creds-unit-"));
  sa = join(dir, "sa");
  mkdirSync(sa);
  mkdirSync(join(dir, "home", ".kube"), { recursive: true });
  writeFileSync(join(sa, "token"), "sa-token-1\n");
  writeFileSync(join(sa, "ca.crt"), "SA-CA");
  writeFileSync(join(sa, "namespace"), "team-a\n");
  writeFileSync(join(dir, "ca.pem"), "FILE-CA");
  writeFileSync(join(dir, "token"), "file-token\n");
  writeFileSync(join(dir, "cert.pem"), "CERT");
  writeFileSync(join(dir, "key.pem"), "KEY");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `apiVersion: v1\nkind: Config\n${body}`);
  return path;
}

const ONE = (server: string, user: string, extra = "") => `current-context: main
clusters:
- name: c1
  cluster:
    server: ${server}
${extra}users:
- name: u1
  user:
${user}contexts:
- name: main
  context: { cluster: c1, user: u1, namespace: apps }
- name: other
  context: { cluster: c1, user: u1 }
`;

function header(plan: Plan): string | undefined {
  const auth = openAuthorizer(plan);
  const h: OutgoingHttpHeaders = {};
  auth.apply(h);
  auth.close();
  return h.authorization as string | undefined;
}

describe("explicit", () => {
  it("uses exactly the route's server, tokenFile and caFile, even in a pod", async () => {
    const r = await resolveCredentials(
      { server: "https://api.example:6443", tokenFile: join(dir, "token"), caFile: join(dir, "ca.pem") },
      { env: noEnv({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }), serviceAccountDir: sa },
    );
    expect(r.plan).toMatchObject({
      source: "explicit",
      server: "https://api.example:6443",
      auth: { kind: "token-file", path: join(dir, "token") },
      overrides: [],
    });
    expect(String(r.plan!.tls.ca)).toBe("FILE-CA");
    expect(header(r.plan!)).toBe("Bearer file-token");
  });

  it("a server alone sends no token: the pod's token never goes to a server it was not meant for", async () => {
    const r = await resolveCredentials(
      { server: "https://elsewhere:443" },
      { env: noEnv({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }), serviceAccountDir: sa },
    );
    expect(r.plan).toMatchObject({ source: "explicit", auth: { kind: "none" } });
    expect(header(r.plan!)).toBeUndefined();
  });
});

describe("in-cluster", () => {
  it("takes $KUBERNETES_SERVICE_HOST/PORT and the service-account volume", async () => {
    const r = await resolveCredentials(
      {},
      { env: noEnv({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }), serviceAccountDir: sa },
    );
    expect(r.plan).toMatchObject({
      source: "in-cluster",
      server: "https://10.96.0.1:443",
      namespace: "team-a",
      auth: { kind: "token-file", path: join(sa, "token") },
    });
    expect(String(r.plan!.tls.ca)).toBe("SA-CA");
    expect(r.watch).toEqual(expect.arrayContaining([join(sa, "token"), join(sa, "ca.crt")]));
    expect(header(r.plan!)).toBe("Bearer sa-token-1");
  });

  it("brackets an IPv6 service host", async () => {
    const r = await resolveCredentials(
      {},
      { env: noEnv({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }), serviceAccountDir: sa },
    );
    expect(r.plan?.server).toBe("https://[fd00::1]:443");
  });

  it("tokenFile and caFile on the route override the volume's", async () => {
    const r = await resolveCredentials(
      { tokenFile: join(dir, "token"), caFile: join(dir, "ca.pem") },
      { env: noEnv({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }), serviceAccountDir: sa },
    );
    expect(r.plan).toMatchObject({ source: "in-cluster", overrides: ["caFile", "tokenFile"] });
    expect(String(r.plan!.tls.ca)).toBe("FILE-CA");
    expect(header(r.plan!)).toBe("Bearer file-token");
  });

  it("needs the token file as well as the environment", async () => {
    const r = await resolveCredentials(
      {},
      { env: noEnv({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }), serviceAccountDir: join(dir, "no-sa") },
    );
    expect(r.plan).toBeUndefined();
    expect(r.lookedFor[0]).toContain("in-cluster service account ($KUBERNETES_SERVICE_HOST and _PORT set");
    expect(r.lookedFor[1]).toContain(join(dir, "home", ".kube", "config"));
    expect(r.watch).toContain(join(dir, "no-sa", "token"));
  });
});

describe("nothing found", () => {
  it("says where it looked, and what to watch for", async () => {
    const r = await resolveCredentials(
      {},
      { env: noEnv({ KUBECONFIG: `${join(dir, "missing-a")}:${join(dir, "missing-b")}` }), serviceAccountDir: join(dir, "no-sa") },
    );
    expect(r.plan).toBeUndefined();
    expect(r.problem).toBe("none of these exist");
    expect(r.lookedFor).toEqual([
      `in-cluster service account ($KUBERNETES_SERVICE_HOST and _PORT unset, ${join(dir, "no-sa", "token")})`,
      `kubeconfig ${join(dir, "missing-a")}:${join(dir, "missing-b")} ($KUBECONFIG)`,
    ]);
    expect(r.watch).toEqual(expect.arrayContaining([join(dir, "missing-a"), join(dir, "missing-b")]));
  });
});

describe("kubeconfig", () => {
  it("~/.kube/config, current-context, inline token (never described)", async () => {
    writeFileSync(
      join(dir, "home", ".kube", "config"),
      `apiVersion: v1\nkind: Config\n${ONE("https://home:6443", "    token: inline-secret-123\n")}`,
    );
    const r = await resolveCredentials({}, { env: noEnv(), serviceAccountDir: join(dir, "no-sa") });
    expect(r.plan).toMatchObject({
      source: "kubeconfig",
      server: "https://home:6443",
      context: "main",
      namespace: "apps",
      auth: { kind: "token" },
      kubeconfig: [join(dir, "home", ".kube", "config")],
    });
    expect(header(r.plan!)).toBe("Bearer inline-secret-123");
    const auth = openAuthorizer(r.plan!);
    expect(JSON.stringify(auth.describe())).not.toContain("inline-secret-123");
  });

  it("$KUBECONFIG files merge as kubectl's: missing ones skipped, first name and first current-context win", async () => {
    const a = kubeconfig(
      "merge-a",
      `clusters:\n- name: c1\n  cluster: { server: "https://first:1" }\nusers:\n- name: u1\n  user: { token: first-token }\n`,
    );
    const b = kubeconfig("merge-b", ONE("https://second:2", "    token: second-token\n"));
    const r = await resolveCredentials(
      {},
      { env: noEnv({ KUBECONFIG: `${join(dir, "nope")}:${a}:${b}` }), serviceAccountDir: join(dir, "no-sa") },
    );
    expect(r.plan).toMatchObject({ server: "https://first:1", context: "main", kubeconfig: [a, b] });
    expect(header(r.plan!)).toBe("Bearer first-token");
  });

  it("the route's context wins; an unknown one is a problem that names it", async () => {
    const path = kubeconfig("ctx", ONE("https://ctx:6443", "    token: t\n"));
    const other = await resolveCredentials({ kubeconfig: path, context: "other" }, { env: noEnv() });
    expect(other.plan).toMatchObject({ context: "other", namespace: undefined });
    const unknown = await resolveCredentials({ kubeconfig: path, context: "nope" }, { env: noEnv() });
    expect(unknown.plan).toBeUndefined();
    expect(unknown.problem).toBe(`context nope is not in kubeconfig ${path}`);
  });

  it("a route with kubeconfig never falls back to in-cluster", async () => {
    const path = kubeconfig("pod", ONE("https://laptop:6443", "    token: t\n"));
    const r = await resolveCredentials(
      { kubeconfig: path },
      { env: noEnv({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }), serviceAccountDir: sa },
    );
    expect(r.plan?.source).toBe("kubeconfig");
  });

  it("client certificate and key files, CA data, tls-server-name, and the files to watch", async () => {
    const caData = Buffer.from("DATA-CA").toString("base64");
    const path = kubeconfig(
      "certs",
      ONE(
        "https://certs:6443",
        `    client-certificate: cert.pem\n    client-key: key.pem\n`,
        `    certificate-authority-data: ${caData}\n    tls-server-name: api.internal\n`,
      ),
    );
    const r = await resolveCredentials({ kubeconfig: path }, { env: noEnv() });
    expect(r.plan).toMatchObject({ auth: { kind: "client-certificate" } });
    expect(String(r.plan!.tls.ca)).toBe("DATA-CA");
    expect(String(r.plan!.tls.cert)).toBe("CERT");
    expect(String(r.plan!.tls.key)).toBe("KEY");
    expect(r.plan!.tls.servername).toBe("api.internal");
    expect(r.watch).toEqual(expect.arrayContaining([path, join(dir, "cert.pem"), join(dir, "key.pem")]));
  });

  it("insecure-skip-tls-verify turns verification off, and changes the fingerprint", async () => {
    const safe = await resolveCredentials({ kubeconfig: kubeconfig("safe", ONE("https://x:1", "    token: t\n")) }, { env: noEnv() });
    const unsafe = await resolveCredentials(
      { kubeconfig: kubeconfig("unsafe", ONE("https://x:1", "    token: t\n", "    insecure-skip-tls-verify: true\n")) },
      { env: noEnv() },
    );
    expect(unsafe.plan!.tls.rejectUnauthorized).toBe(false);
    expect(unsafe.plan!.fingerprint).not.toBe(safe.plan!.fingerprint);
  });

  it("a user's token-file is watched, resolved next to the kubeconfig", async () => {
    const path = kubeconfig("tokfile", ONE("https://t:1", `    token-file: ${join(dir, "token")}\n`));
    const r = await resolveCredentials({ kubeconfig: path }, { env: noEnv() });
    expect(r.plan!.auth).toEqual({ kind: "token-file", path: join(dir, "token") });
    expect(header(r.plan!)).toBe("Bearer file-token");
  });

  it("basic auth", async () => {
    const r = await resolveCredentials(
      { kubeconfig: kubeconfig("basic", ONE("https://b:1", "    username: admin\n    password: pw\n")) },
      { env: noEnv() },
    );
    expect(header(r.plan!)).toBe(`Basic ${Buffer.from("admin:pw").toString("base64")}`);
  });

  it("an exec plugin runs through client-node and its token is used", async () => {
    const credential = JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      status: { token: "exec-token-9", expirationTimestamp: new Date(Date.now() + 3600_000).toISOString() },
    });
    const path = kubeconfig(
      "exec",
      ONE(
        "https://e:1",
        `    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: ["-c", ${JSON.stringify(`echo '${credential}'`)}]\n      interactiveMode: Never\n`,
      ),
    );
    const r = await resolveCredentials({ kubeconfig: path }, { env: noEnv() });
    expect(r.plan!.auth).toEqual({ kind: "plugin", plugin: "exec" });
    const auth = openAuthorizer(r.plan!);
    await auth.prepare!();
    const h: OutgoingHttpHeaders = {};
    auth.apply(h);
    expect(h.authorization).toBe("Bearer exec-token-9");
  });

  it("server, tokenFile and caFile on the route override the kubeconfig's", async () => {
    const path = kubeconfig("over", ONE("https://kc:6443", "    token: kc-token\n"));
    const r = await resolveCredentials(
      { kubeconfig: path, server: "https://override:443", tokenFile: join(dir, "token"), caFile: join(dir, "ca.pem") },
      { env: noEnv() },
    );
    expect(r.plan).toMatchObject({ source: "kubeconfig", server: "https://override:443", overrides: ["server", "caFile", "tokenFile"] });
    expect(header(r.plan!)).toBe("Bearer file-token");
  });

  it("a kubeconfig that does not parse is a problem, not a throw", async () => {
    const path = join(dir, "broken");
    writeFileSync(path, "clusters: [ {");
    const r = await resolveCredentials({ kubeconfig: path }, { env: noEnv() });
    expect(r.plan).toBeUndefined();
    expect(r.problem).toContain(`cannot load kubeconfig ${path}`);
  });
});
