/**
 * An OTLP/HTTP collector that keeps nothing: reads each export and answers 200, as a collector does.
 * It lets the bench measure attache's cost of tracing without a collector's own cost in the cell.
 *   node --import tsx test/bench/servers/otlp-sink.ts PORT
 */
import { createServer } from "node:http";

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": req.headers["content-type"] ?? "application/x-protobuf", "content-length": 0 });
    res.end();
  });
});
server.listen(Number(process.argv[2]), "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
