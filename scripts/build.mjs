// `npm run build`: src/main.ts → dist/ with esbuild, ES modules split into chunks so that each
// dynamic import() (a verb, an upstream kind, tracing) stays a file loaded only when used.
// npm packages stay imports resolved from node_modules at run time (the image installs them).
// Types are not checked here: that is `npm run typecheck`.
import { rmSync } from "node:fs";
import { build } from "esbuild";

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
  packages: "external",
  // Every output file sits directly in dist/, one level below package.json (src/version.ts reads it).
  chunkNames: "[name]-[hash]",
  sourcemap: "linked",
  logLevel: "warning",
});
