// `npm run build`: src/main.ts → dist/ with esbuild, ES modules split into chunks so that each
// dynamic import() (a verb, an upstream kind, tracing) stays a file loaded only when used.
// The npm packages that every start loads (BUNDLED, with what they import) are bundled and minified:
// one compiled file instead of hundreds resolved and read one by one, which is most of start → ready
// on a runtime without a compile cache. The others stay imports resolved from node_modules at run
// time (the image installs them): those loaded only by a lazy chunk, and those that src loads through
// createRequire (undici's dispatchers, prom-client).
// Types are not checked here: that is `npm run typecheck`.
import { rmSync } from "node:fs";
import { isBuiltin } from "node:module";
import { build } from "esbuild";

/** Loaded by `run` or `validate` before ready: bundled. */
const BUNDLED = new Set([
  "bytes",
  "cosmiconfig",
  "express",
  "fastest-levenshtein",
  "ms",
  "opossum",
  "pino",
  "re2js",
  "tinyglobby",
  "yaml",
  "zod",
]);
/** Imported by a bundled package but optional and heavy (cosmiconfig loads it for a .ts config only). */
const NEVER_BUNDLED = new Set(["typescript"]);

const packageOf = (path) => path.split("/", path.startsWith("@") ? 2 : 1).join("/");

/** Bare imports from src: bundled when in BUNDLED; from a bundled package: bundled too, but for NEVER_BUNDLED. */
const selectPackages = {
  name: "select-packages",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (isBuiltin(args.path)) return { external: true };
      const fromPackage = args.importer.includes("/node_modules/");
      const bundled = fromPackage ? !NEVER_BUNDLED.has(packageOf(args.path)) : BUNDLED.has(packageOf(args.path));
      return bundled ? undefined : { external: true };
    });
  },
};

/**
 * zod's translations of its messages (z.locales, some 260 KB), which attache never selects: its
 * messages are its own, and zod's English ones come from their own module. An empty module instead.
 */
const withoutZodLocales = {
  name: "without-zod-locales",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /\/node_modules\/zod\/v4\/(classic|core)\//.test(args.importer) ? { path: "zod-locales", namespace: "empty" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "empty" }, () => ({ contents: "export {};", loader: "js" }));
  },
};

const root = new URL("..", import.meta.url).pathname;
rmSync(`${root}dist`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts"],
  outdir: "dist",
  tsconfig: "tsconfig.build.json",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  plugins: [selectPackages, withoutZodLocales],
  // Bundled CommonJS packages call require() for Node's built-in modules; an ES module has none.
  banner: {
    js: 'import { createRequire as __attacheCreateRequire } from "node:module";\nconst require = __attacheCreateRequire(import.meta.url);',
  },
  minify: true,
  // Class and function names stay: error names and stack traces read as in the source.
  keepNames: true,
  // Every output file sits directly in dist/, one level below package.json (src/version.ts reads it).
  chunkNames: "[name]-[hash]",
  sourcemap: "linked",
  // The maps name each source file and line; the text of node_modules is not copied into them.
  sourcesContent: false,
  legalComments: "linked",
  logLevel: "warning",
});
