/**
 * Node's own floor for the Redis listener: a net socket per client, piped both ways to Redis,
 * no parsing at all.
 *   node --import tsx test/bench/servers/tcp-pipe.ts PORT REDIS_PORT
 */
import { connect, createServer } from "node:net";

const port = Number(process.argv[2]);
const redisPort = Number(process.argv[3]);

const server = createServer((client) => {
  client.setNoDelay(true);
  const upstream = connect(redisPort, "127.0.0.1");
  upstream.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => client.destroy());
});
server.listen(port, "127.0.0.1");
// Exit cleanly on a signal (so `node --cpu-prof` writes its profile).
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
