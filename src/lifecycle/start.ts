/** Start: validate everything → build the route table → bind listeners → ready → watch the config. */
import type { Server } from "node:http";
import { ConfigError } from "../config/problems.js";
import { isLoopback, loadConfig } from "../config/validate.js";
import type { FindOptions } from "../config/load.js";
import { createAdminServer } from "../admin/admin-server.js";
import { createProbeServer } from "../admin/probe-server.js";
import { configureLog, log } from "../observability/log.js";
import { startDefaultMetrics } from "../observability/registry.js";
import { startTracing } from "../observability/tracing.js";
import { ListenerGuard } from "../proxy/guard-listener.js";
import { createProxyServer } from "../proxy/listener.js";
import { RouteTable, type UpstreamFactory } from "../routing/route-table.js";
import { createUpstream, loadUpstreamKinds } from "../upstreams/create-upstream.js";
import { Closer } from "./closer.js";
import { drain } from "./drain.js";
import { makeGeneration, State } from "./generation.js";
import { listen, ListenError } from "./listen.js";
import { Reloader, type ReloadOutcome } from "./reload.js";
import { Retirement, trackInflight } from "./retire.js";
import { attributeFailures, awaitReadiness, RouteBuildError } from "./route-build.js";
import { FileWatcher, type WatchOptions } from "../fs/watch-files.js";
import { VERSION } from "../version.js";

/** How long after ready the process metrics load: the first probes are answered before. */
const DEFAULT_METRICS_AFTER_READY_MS = 1_000;

export interface Running {
  state: State;
  /** Bound addresses, real ports included. */
  listen: string;
  admin: string;
  /** The probe listener's bound address, when `probe` is set. */
  probe: string | undefined;
  /** Start the drain (SIGTERM, /quitquitquit); resolves when everything is closed. */
  drain(): Promise<void>;
  /** Close at once, without draining. */
  close(): Promise<void>;
  /** Reload the config now (SIGHUP). Forced by default: re-validates even if no file changed. */
  reload(reason?: string, force?: boolean): Promise<ReloadOutcome>;
  /** Resolves once the process has drained or closed. */
  closed: Promise<void>;
}

export interface StartOptions {
  /** Watching the config folders; `false`: reload on SIGHUP (`reload()`) only. */
  watch?: WatchOptions | false;
}

export async function start(options: FindOptions = {}, startOptions: StartOptions = {}): Promise<Running> {
  const loaded = await loadConfig(options);
  if (!loaded.config) throw new ConfigError(loaded.problems);
  const config = loaded.config;
  configureLog(config.log);

  // Every upstream counts its requests in flight, so a reload can close a replaced one once idle.
  const createTracked = attributeFailures((...args: Parameters<UpstreamFactory>) => trackInflight(createUpstream(...args)));
  await loadUpstreamKinds(config);
  let table: RouteTable;
  try {
    table = RouteTable.build(config, createTracked);
  } catch (err) {
    if (!(err instanceof RouteBuildError)) throw err;
    const { source, prefix } = err.route;
    throw new ConfigError([
      { file: source.file, line: source.line, col: source.col, path: "", message: `route ${prefix}: ${err.message}` },
    ]);
  }
  const state = new State(makeGeneration(1, config, table));
  const retirement = new Retirement();
  // RESP listeners of redis routes bind as their upstream is built: a taken port fails the start.
  const unready = await awaitReadiness(table.routes, retirement);
  if (unready) {
    const route = unready.route.config;
    const err = unready.reason as NodeJS.ErrnoException;
    const reason = err.code === "EADDRINUSE" ? "address already in use" : err.code === "EACCES" ? "permission denied" : err.message;
    throw new ListenError(`cannot listen on ${route.upstream.redis?.listen} (route ${route.prefix}): ${reason}`);
  }
  const servers: Server[] = [];
  let watcher: FileWatcher | undefined;
  let reloader: Reloader | undefined;
  let draining: Promise<void> | undefined;
  let finish!: () => void;
  const closed = new Promise<void>((resolve) => (finish = resolve));

  // Close order: stop reloading, stop accepting, then the upstreams (pools, Redis, RESP listeners).
  const closer = new Closer();
  closer.add("config watch", async () => {
    watcher?.close();
    await reloader?.stop();
  });
  closer.add("listeners", async () => {
    state.ready = false;
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  });
  closer.add("upstreams", async () => {
    await Promise.all(state.current.table.routes.map((r) => retirement.closeNow(r.upstream, r.resilience, r.name)));
    await retirement.closeAll();
  });
  // Last before "closed": spans of the drain's final requests are flushed too.
  closer.add("tracing", await startTracing(config.tracing, VERSION));
  closer.add("closed", () => finish());
  const closeAll = () => closer.close();

  const running: Running = {
    state,
    listen: "",
    admin: "",
    probe: undefined,
    drain: () => (draining ??= drain(state, closeAll)),
    close: closeAll,
    reload: (reason = "requested", force = true) =>
      reloader
        ? reloader.reload(reason, force)
        : Promise.resolve({ applied: false, unchanged: true, generation: state.current.id, problems: [] }),
    closed,
  };

  const proxy = createProxyServer(state);
  const admin = createAdminServer(state, { drain: () => void running.drain() });
  const probe = config.probe === undefined ? undefined : createProbeServer(state);
  const guards = [new ListenerGuard(proxy, "listen", config.limits), new ListenerGuard(admin, "admin", config.limits)];
  if (probe) guards.push(new ListenerGuard(probe, "probe", config.limits));
  try {
    servers.push(proxy);
    running.listen = await listen(proxy, config.listen, "listen");
    servers.push(admin);
    running.admin = await listen(admin, config.admin, "admin");
    if (probe && config.probe !== undefined) {
      servers.push(probe);
      running.probe = await listen(probe, config.probe, "probe");
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  state.ready = true;
  // Node's process metrics load in the background: nothing before ready needs them, and loading them
  // (prom-client's index, synchronous once read) must not hold the first /readyz. A scrape waits for them.
  setTimeout(() => void startDefaultMetrics(), DEFAULT_METRICS_AFTER_READY_MS).unref();
  for (const [what, address] of [
    ["listen", config.listen],
    ["admin", config.admin],
  ] as const) {
    // allowNonLoopback let it through validation; say so every start, it holds the pod's credentials.
    if (!isLoopback(address))
      log.warn({ [what]: address }, `${what} is bound beyond loopback (allowNonLoopback: true): reachable from the network`);
  }

  if (startOptions.watch !== false) watcher = new FileWatcher((why) => void reloader?.reload(why), startOptions.watch || {});
  reloader = new Reloader({
    state,
    find: options,
    createUpstream: createTracked,
    retirement,
    root: loaded.root,
    teams: loaded.teams,
    watch: (dirs) => watcher?.watch(dirs),
    applyLimits: (limits) => {
      for (const guard of guards) guard.apply(limits);
    },
  });
  log.info(
    {
      listen: running.listen,
      admin: running.admin,
      probe: running.probe,
      routes: table.routes.length,
      config: config.rootFile,
      watching: watcher?.folders ?? [],
    },
    "attache ready",
  );
  return running;
}
