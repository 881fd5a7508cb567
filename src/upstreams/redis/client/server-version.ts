/** Redis' version, for HELLO and INFO as attache answers them (listener/local-commands.ts). */
import type { Redis } from "ioredis";

export class ServerVersion {
  value: string | undefined;

  /** ioredis' ready check reads INFO but keeps nothing of it: one INFO server per connect (a failover may change the version). */
  learn(redis: Redis): void {
    redis.info("server").then(
      (text) => (this.value = /^redis_version:(\S+)/m.exec(text)?.[1] ?? this.value),
      () => {},
    );
  }
}
