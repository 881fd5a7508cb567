/** Bind a server to "host:port"; a bind failure becomes a one-line error (exit 1 at start). */
import type { Server } from "node:http";
import type { Server as NetServer, AddressInfo } from "node:net";
import { formatHostPort, parseHostPort } from "../net/address.js";

export class ListenError extends Error {}

/** Resolves with the bound address as "host:port" (the real port when 0 was asked). */
export function listen(server: Server | NetServer, address: string, what: string): Promise<string> {
  const { host, port } = parseHostPort(address, what);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const reason = err.code === "EADDRINUSE" ? "address already in use" : err.code === "EACCES" ? "permission denied" : err.message;
      reject(new ListenError(`cannot listen on ${address} (${what}): ${reason}`));
    };
    server.once("error", onError);
    server.listen({ host, port }, () => {
      server.off("error", onError);
      const bound = server.address() as AddressInfo;
      resolve(formatHostPort(bound.address, bound.port));
    });
  });
}
