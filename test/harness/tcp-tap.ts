/** A recording TCP relay between attache and a real redis-server: every byte each upstream connection sent, in order. */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface TapConnection {
  /** Bytes from attache to Redis so far. */
  readonly sent: Buffer[];
  readonly socket: Socket;
  closed: boolean;
  /** Everything sent so far, joined. */
  bytes(): Buffer;
}

export interface TcpTap {
  port: number;
  /** Every connection ever made through the tap, oldest first. */
  readonly connections: TapConnection[];
  /** Connections still open. */
  open(): TapConnection[];
  close(): Promise<void>;
}

export async function startTcpTap(targetPort: number): Promise<TcpTap> {
  const connections: TapConnection[] = [];
  const live = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    live.add(client);
    live.add(upstream);
    const conn: TapConnection = { sent: [], socket: client, closed: false, bytes: () => Buffer.concat(conn.sent) };
    connections.push(conn);
    client.on("data", (chunk: Buffer) => {
      conn.sent.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    const end = () => {
      conn.closed = true;
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    connections,
    open: () => connections.filter((c) => !c.closed),
    async close() {
      for (const s of live) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
