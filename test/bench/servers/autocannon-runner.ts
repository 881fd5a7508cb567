/**
 * The autocannon fallback (no wrk): one run, printed as `AUTOCANNON_JSON {LoadResult}`.
 *   node --import tsx test/bench/servers/autocannon-runner.ts '{"base":...,"paths":[...],...}'
 */
import autocannon from "autocannon";
import type { HttpLoad, LoadResult } from "../load.js";

const load = JSON.parse(process.argv[2] ?? "{}") as HttpLoad;
const result = await autocannon({
  url: load.base,
  connections: load.connections,
  duration: load.seconds,
  headers: load.headers,
  requests: load.paths.map((path) => ({ method: "GET", path })),
  ...(load.rate ? { overallRate: load.rate } : {}),
});
const seconds = result.duration;
const out: LoadResult = {
  requests: result.requests.total,
  seconds,
  rps: result.requests.total / seconds,
  p50: result.latency.p50,
  p90: result.latency.p90,
  p99: result.latency.p99,
  errors: result.errors + result.timeouts + result.non2xx,
};
process.stdout.write(`AUTOCANNON_JSON ${JSON.stringify(out)}\n`);
