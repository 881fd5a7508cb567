/** The route's keep-alive connection pool: one http.Agent and one https.Agent, created lazily. */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from "node:https";
import type { ResolvedPool } from "../config/validate.js";

export class Pool {
  private http: HttpAgent | undefined;
  private https: HttpsAgent | undefined;

  constructor(
    private readonly config: ResolvedPool,
    private readonly tls: HttpsAgentOptions = {},
  ) {}

  agent(protocol: "http:" | "https:"): HttpAgent {
    const options = {
      keepAlive: this.config.keepAlive,
      maxSockets: this.config.maxSockets,
      maxFreeSockets: this.config.maxFreeSockets,
      // On a keep-alive agent, `timeout` is how long a free socket may idle before we close it.
      timeout: this.config.idleTimeout,
      scheduling: "lifo" as const,
    };
    if (protocol === "https:") return (this.https ??= new HttpsAgent({ ...options, ...this.tls }));
    return (this.http ??= new HttpAgent(options));
  }

  /** Sockets open right now, free and busy (for /routes and tests). */
  describe(): Record<string, number> {
    let open = 0;
    let free = 0;
    for (const agent of [this.http, this.https]) {
      if (!agent) continue;
      for (const list of Object.values(agent.sockets)) open += list?.length ?? 0;
      for (const list of Object.values(agent.freeSockets)) free += list?.length ?? 0;
    }
    return { busy: open, free };
  }

  close(): void {
    this.http?.destroy();
    this.https?.destroy();
  }
}
