/**
 * Regression: the breaker's errorFilter treated a 5xx answer (carried through opossum as a failed
 * result) as "not a failure", so an upstream answering 500s never opened the circuit.
 */
import { expect, it } from "vitest";
import { startAttache } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { startOrigin } from "../harness/origin.js";

it("an upstream answering 500s opens the breaker", async () => {
  const origin = await startOrigin();
  origin.route("/", (_req, res) => {
    res.statusCode = 500;
    res.end();
  });
  const attache = await startAttache(`admin: 127.0.0.1:0
log: { level: fatal, access: false }
routes: [{ prefix: /x, circuitBreaker: { volumeThreshold: 3, resetTimeout: 30s }, upstream: { http: { endpoints: ["${origin.url}"] } } }]`);
  try {
    for (let i = 0; i < 3; i++) expect((await send(attache.url, "/x")).status).toBe(500);
    const refused = await send(attache.url, "/x");
    expect(refused.status).toBe(503);
    expect(refused.headers["x-attache-error"]).toBe("circuit_open");
    expect(origin.requests).toBe(3);
  } finally {
    await attache.stop();
    await origin.close();
  }
});
