/** Bind a server to "host:port"; a bind failure becomes a one-line error (exit 1 at start). */
import type { Server } from "node:http";
import type { Server as NetServer, AddressInfo } from "node:net";

export class ListenError extends Error {}

export function splitAddress(address: string): { host: string; port: number } {
  const cut = address.lastIndexOf(":");
  return { host: address.slice(0, cut).replace(/^\[|\]$/g, ""), port: Number(address.slice(cut + 1)) };
}

/** Resolves with the bound address as "host:port" (the real port when 0 was asked). */
export function listen(server: Server | NetServer, address: string, what: string): Promise<string> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const reason = err.code === "EADDRINUSE" ? "address already in use" : err.code === "EACCES" ? "permission denied" : err.message;
      reject(new ListenError(`cannot listen on ${address} (${what}): ${reason}`));
    };
    server.once("error", onError);
    server.listen({ host, port }, () => {
      server.off("error", onError);
      const bound = server.address() as AddressInfo;
      resolve(`${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`);
    });
  });
}
