/** Start: validate everything → build the route table → bind listeners → ready (DESIGN §5). */
import type { Server } from "node:http";
import { ConfigError } from "../config/problems.js";
import { loadConfig } from "../config/validate.js";
import type { FindOptions } from "../config/load.js";
import { createAdminServer } from "../admin/admin-server.js";
import { configureLog, log } from "../observability/log.js";
import { createProxyServer } from "../proxy/listener.js";
import { RouteTable } from "../routing/route-table.js";
import { createUpstream } from "../upstreams/create-upstream.js";
import { drain } from "./drain.js";
import { makeGeneration, State } from "./generation.js";
import { listen } from "./listen.js";

export interface Running {
  state: State;
  /** Bound addresses, real ports included. */
  listen: string;
  admin: string;
  /** Start the drain (SIGTERM, /quitquitquit); resolves when everything is closed. */
  drain(): Promise<void>;
  /** Close at once, without draining. */
  close(): Promise<void>;
  /** Resolves once the process has drained or closed. */
  closed: Promise<void>;
}

export async function start(options: FindOptions = {}): Promise<Running> {
  const loaded = await loadConfig(options);
  if (!loaded.config) throw new ConfigError(loaded.problems);
  const config = loaded.config;
  configureLog(config.log);

  const table = RouteTable.build(config, createUpstream);
  const state = new State(makeGeneration(1, config, table));
  const servers: Server[] = [];
  let draining: Promise<void> | undefined;
  let finish!: () => void;
  const closed = new Promise<void>((resolve) => (finish = resolve));

  const closeAll = async () => {
    state.ready = false;
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    })));
    await Promise.all(state.current.table.routes.map((r) => r.upstream.close()));
    for (const r of state.current.table.routes) r.resilience.close();
    finish();
  };

  const running: Running = {
    state,
    listen: "",
    admin: "",
    drain: () => (draining ??= drain(state, closeAll)),
    close: closeAll,
    closed,
  };

  const proxy = createProxyServer(state);
  const admin = createAdminServer(state, { drain: () => void running.drain() });
  try {
    servers.push(proxy);
    running.listen = await listen(proxy, config.listen, "listen");
    servers.push(admin);
    running.admin = await listen(admin, config.admin, "admin");
  } catch (err) {
    await closeAll();
    throw err;
  }
  state.ready = true;
  log.info({ listen: running.listen, admin: running.admin, routes: table.routes.length, config: config.rootFile }, "attache ready");
  return running;
}
