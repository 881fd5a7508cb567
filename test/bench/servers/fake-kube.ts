/**
 * The test harness's fake Kubernetes API (HTTPS, bearer token checked on every request) in its own
 * process, so its CPU is not the bench's. Prints one line `FAKE_KUBE {json}` with what a client
 * needs, then serves until killed. Its request record is cleared every second: under load it would
 * otherwise grow by thousands of entries a second.
 *   node --import tsx test/bench/servers/fake-kube.ts KUBECONFIG_PATH
 */
import { startFakeKubeApi } from "../../harness/fake-kube-api.js";

const kubeconfig = process.argv[2] ?? "";
const fake = await startFakeKubeApi({ token: "bench-token" });
fake.writeKubeconfig(kubeconfig, { user: "token" });
setInterval(() => {
  fake.requests.length = 0;
}, 1000);
process.stdout.write(`FAKE_KUBE ${JSON.stringify({ url: fake.url, port: fake.port, tokenFile: fake.volume.tokenFile, caFile: fake.certs.caFile, token: fake.volume.token, kubeconfig })}\n`);
const stop = () => void fake.close().finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
