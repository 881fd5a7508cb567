/** What a RESP listener and its sessions need from the route: its runner and resilience, INFO's text, and the port's limits. */
import type { Limits } from "../../../config/validate.js";
import type { Resilience } from "../../../resilience/policy-stack.js";
import type { CommandRunner } from "../commands/command-runner.js";

/** The root `limits` a RESP port applies: its connection cap, and each client's query and output bounds. */
export type RespLimits = Limits["redis"] & { readonly maxConnections: number };

/** What a session needs from its upstream (RedisUpstream implements it). */
export interface RespBackend {
  readonly runner: CommandRunner;
  /** The route's resilience stack, shared with the HTTP side. */
  resilience(): Resilience;
  /** INFO as attache answers it (when not forwarded: CommandRunner.forwardsInfo). */
  infoText(): string;
  serverVersion(): string;
}
