/**
 * A team's route file used to reach far beyond its prefix: a kubernetes route with `deny: []` reached
 * pods/exec with the pod's token, and `auth.bearerTokenFile` could name the Kubernetes token and have
 * attache send it to the team's own origin. With grants in the root file, over real sockets:
 * - a granted kubernetes route keeps the deny floor (built-in plus root `kubernetes.deny`) and only adds to it;
 * - `deny: []`, a kind not granted, or a secret file outside the team's folders rejects that file alone,
 *   on reload, with file:line:col, while another team's change applies;
 * - /routes shows which grant admitted each route.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { startFakeKubeApi, type FakeKubeApi } from "../harness/fake-kube-api.js";
import { eventually, send } from "../harness/http.js";
import { startOrigin, type Echo, type Origin } from "../harness/origin.js";

let fake: FakeKubeApi;
let origin: Origin;
let attache: AttacheUnderTest;
let conn: string;

const POD = "/api/v1/namespaces/default/pods/web-1";

beforeAll(async () => {
  fake = await startFakeKubeApi();
  origin = await startOrigin();
  conn = `{ server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" }`;
  attache = await startAttache({
    root: [
      "include: [routes.d/*.yaml]",
      'kubernetes: { deny: [{ path: "/secrets(/|$)" }] }',
      "owners:",
      `  ops: { prefixes: [/ops], upstreams: [kubernetes], secretDirs: ["${fake.volume.dir}", "${dirname(fake.certs.caFile)}"] }`,
      "  web: [/web]",
      "",
    ].join("\n"),
    files: {
      "routes.d/ops.yaml": `owner: ops\nroutes:\n  - prefix: /ops\n    deny: [{ path: "/configmaps(/|$)" }]\n    upstream: { kubernetes: ${conn} }\n`,
      "routes.d/web.yaml": `owner: web\nroutes:\n  - prefix: /web\n    upstream: { http: { endpoints: ["${origin.url}"] } }\n`,
    },
  });
});

afterAll(async () => {
  await attache?.stop();
  await origin?.close();
  await fake?.close();
});

async function problems(): Promise<string> {
  const view = (await send(attache.adminUrl, "/config")).json as { lastError: { problems: string[] } | null };
  return (view.lastError?.problems ?? []).join("\n").replaceAll(attache.dir, "<dir>");
}

describe("regression: a team file escaping its grant", () => {
  it("a granted kubernetes route keeps the deny floor and adds its own rules", async () => {
    expect((await send(attache.url, `/ops${POD}`)).status).toBe(200);
    for (const denied of [
      `${POD}/exec?command=sh`,
      `${POD}/portforward`,
      `${POD}/proxy/`,
      "/api/v1/namespaces/default/secrets/token",
      "/api/v1/namespaces/default/configmaps",
    ]) {
      const answer = await send<{ kind: string }>(attache.url, `/ops${denied}`);
      expect(answer.status, denied).toBe(403);
      expect(answer.json.kind, denied).toBe("Status");
    }
    expect(fake.requests.filter((r) => /exec|portforward|proxy|secrets|configmaps/.test(r.url))).toEqual([]);
  });

  it("/routes shows which grant admitted each route", async () => {
    const { routes } = (
      await send<{ routes: Array<{ prefix: string; admittedBy: { by: string; matched: string[] }; policies: { deny: string[] } }> }>(
        attache.adminUrl,
        "/routes",
      )
    ).json;
    const ops = routes.find((r) => r.prefix === "/ops")!;
    expect(ops.admittedBy).toEqual({
      by: "owners.ops",
      matched: [
        "prefix /ops",
        "upstream kubernetes",
        "deny floor + 1 rule(s)",
        `secretDir ${fake.volume.dir}`,
        `secretDir ${dirname(fake.certs.caFile)}`,
      ],
    });
    expect(ops.policies.deny.slice(-2)).toEqual(["/secrets(/|$)", "/configmaps(/|$)"]);
    expect(routes.find((r) => r.prefix === "/web")!.admittedBy).toEqual({ by: "owners.web", matched: ["prefix /web", "upstream http"] });
  });

  it("on reload, deny: [] rejects only that team's file, and another team's change applies", async () => {
    writeFileSync(
      join(attache.dir, "routes.d/ops.yaml"),
      `owner: ops\nroutes:\n  - prefix: /ops\n    deny: []\n    upstream: { kubernetes: ${conn} }\n`,
    );
    writeFileSync(
      join(attache.dir, "routes.d/web.yaml"),
      `owner: web\nroutes:\n  - prefix: /web\n    upstream: { http: { endpoints: ["${origin.url}"] } }\n  - prefix: /web/two\n    upstream: { http: { endpoints: ["${origin.url}"] } }\n`,
    );
    await eventually(async () => (await problems()).includes("ops.yaml") && (await send(attache.url, "/web/two/x")).status === 200, 5000);
    expect(await problems()).toBe(
      "<dir>/routes.d/ops.yaml:4:11: routes[0].deny: deny: [] would lift the platform's kubernetes deny floor; owners.ops.kubernetes.liftDeny grants that (deny rules written here are added to the floor)",
    );
    expect((await send(attache.url, `/ops${POD}/exec`)).status).toBe(403);
  });

  it("a secret file outside the grant (the Kubernetes token), or a kind not granted, rejects the file; nothing is sent", async () => {
    writeFileSync(
      join(attache.dir, "routes.d/web.yaml"),
      [
        "owner: web",
        "routes:",
        "  - prefix: /web",
        `    upstream: { http: { endpoints: ["${origin.url}"], auth: { bearerTokenFile: "${fake.volume.tokenFile}" } } }`,
        "  - prefix: /web/k8s",
        `    upstream: { kubernetes: ${conn} }`,
        "",
      ].join("\n"),
    );
    await eventually(async () => (await problems()).includes("web.yaml"), 5000);
    const text = await problems();
    expect(text).toMatch(
      /<dir>\/routes\.d\/web\.yaml:4:\d+: routes\[0\]\.upstream\.http\.auth\.bearerTokenFile: file .*\/token is outside the folders granted to web for secret files \(owners\.web\.secretDirs: none\)/,
    );
    expect(text).toMatch(
      /<dir>\/routes\.d\/web\.yaml:6:\d+: routes\[1\]\.upstream\.kubernetes: upstream kind kubernetes is not granted to web \(owners\.web\.upstreams: http\)/,
    );
    const answer = await send<Echo>(attache.url, "/web/x");
    expect(answer.status).toBe(200);
    expect(answer.json.headers.authorization).toBeUndefined();
    // No /web/k8s route: the request falls to /web, the team's origin, not the API server.
    expect((await send<Echo>(attache.url, `/web/k8s${POD}`)).json.url).toBe(`/k8s${POD}`);
  });
});
