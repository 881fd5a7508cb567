#!/usr/bin/env -S node --max-semi-space-size=4
/** The `attache` binary: argv → verb; exit codes 0 ok, 1 invalid config or start failure, 2 usage (docs/operations.md). */
// The first line's node flags are attache's runtime settings, the same as docker/Dockerfile's ENTRYPOINT
// (test/deployment/dockerfile.test.ts holds them equal): a young generation of 2 × 4 MiB semi-spaces
// instead of V8's 16 (Node 20) or 32 MiB (Node 24) keeps the resident set small at a sidecar's rate.
import module from "node:module";
import { parseArgs } from "node:util";

// V8's compile cache on disk (Node ≥ 22.1; the image's runtime): later starts skip compiling what an
// earlier start compiled. Before the verbs' imports, which are what it caches. Node 20 lacks it, and
// it never throws: an unwritable cache directory only leaves it off.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const HELP = `attache — config-driven ambassador sidecar

Usage:
  attache [run] [-c PATH]     load, validate and serve
  attache validate [-c PATH]  check the config; one "file:line:col: message" per problem
  attache routes [-c PATH]    print the merged route table
  attache --version | --help

-c, --config PATH   root config file, or a directory holding attache.yaml
                    (default: $ATTACHE_CONFIG, else attache.yaml & co. in the cwd, else ./config)
`;

function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "v" } },
  });
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    process.stderr.write(`attache: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    const { VERSION } = await import("./version.js");
    process.stdout.write(`attache ${VERSION}\n`);
    return 0;
  }
  if (positionals.length > 1) {
    process.stderr.write(`attache: unexpected argument ${positionals[1]}\n${HELP}`);
    return 2;
  }
  const verb = positionals[0] ?? "run";
  const options = { configPath: values.config };
  // Each verb loads only what it needs: `validate` in a team's CI must not pay for ioredis, express & co.
  switch (verb) {
    case "run":
      return (await import("./cli/run.js")).runCommand(options);
    case "validate":
      return (await import("./cli/validate.js")).validateCommand(options);
    case "routes":
      return (await import("./cli/routes.js")).routesCommand(options);
    default:
      process.stderr.write(`attache: unknown command ${verb}\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // `run` resolves only once drained; the other verbs are done.
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`attache: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
