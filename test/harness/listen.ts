/** listenOn(server) → port, always on 127.0.0.1:0 (httpxy's test/_utils.ts). */
import type { Server } from "node:net";
import type { AddressInfo } from "node:net";

export function listenOn(server: Server, host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
