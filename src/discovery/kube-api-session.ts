/** The Kubernetes API connection of one discovery source: built on first use, forgotten after a 401 re-reading did not fix. */
import type { Agent } from "node:https";
import { kubeApiAgent, type KubeApiConnection } from "../kubernetes-api/connection.js";

export class KubeApiSession {
  private connection: Promise<KubeApiConnection> | undefined;
  /** The last connection built, for describe(). */
  connected: KubeApiConnection | undefined;
  /** The https agent of the last connection built. */
  agent: Agent | undefined;

  /** `onConnect` runs first on each connection built (the source takes its namespace from it). */
  constructor(
    private readonly build: () => Promise<KubeApiConnection>,
    private readonly onConnect: (connection: KubeApiConnection) => void,
  ) {}

  connect(): Promise<KubeApiConnection> {
    this.connection ??= this.build().then(
      (connection) => {
        this.onConnect(connection);
        this.connected = connection;
        this.agent?.destroy();
        this.agent = kubeApiAgent(connection);
        return connection;
      },
      (err: unknown) => {
        this.connection = undefined;
        throw err;
      },
    );
    return this.connection;
  }

  /** Forget the connection: the next attempt resolves credentials again. */
  reconnect(): void {
    const old = this.connection;
    this.connection = undefined;
    void old?.then(
      (c) => c.close?.(),
      () => {},
    );
  }

  close(): void {
    this.agent?.destroy();
    void this.connection?.then(
      (c) => c.close?.(),
      () => {},
    );
  }
}
