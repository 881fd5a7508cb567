/**
 * Closes a connection from which nothing has arrived for `ms`. Over HTTP/2 the client PINGs more often
 * than that (resilience/pool.ts), and a live server answers every PING, so silence means the server or
 * the path to it is gone without a FIN or RST. Closing ends the connection's streams: a watch ends and
 * its client watches again, where it would otherwise hang for as long as TCP takes to give up.
 * It reads `bytesRead` once per interval: nothing per request, no listener on the data path.
 */
import type { Socket } from "node:net";

export function watchSilence(socket: Socket, ms: number): void {
  let seen = socket.bytesRead;
  const timer = setInterval(() => {
    const now = socket.bytesRead;
    if (now === seen && !socket.destroyed) {
      socket.destroy(Object.assign(new Error(`connection silent for ${ms}ms: HTTP/2 PING unanswered`), { code: "ETIMEDOUT" }));
    }
    seen = now;
  }, ms).unref();
  socket.once("close", () => clearInterval(timer));
}
