/**
 * docker/Dockerfile and .dockerignore, checked without a Docker engine: linted (dockerfile-utils,
 * the Docker language server's linter), parsed (dockerfile-ast), and every path it copies traced
 * back to the repository and the build output (`npm run build`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix, relative } from "node:path";
import { DockerfileParser, type Copy, type Dockerfile, type From, type Instruction, type JSONInstruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { beforeAll, describe, expect, it } from "vitest";
import { loadManifests, ROOT } from "./manifests.js";
import { podView } from "./pod.js";

const DOCKERFILE = join(ROOT, "docker/Dockerfile");
const DOCKERIGNORE = join(ROOT, ".dockerignore");

// ---- .dockerignore, with Docker's matching rules (moby/patternmatcher) ----

interface IgnoreRule {
  negate: boolean;
  re: RegExp;
}

function patternToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    else if (c === "[") {
      const end = pattern.indexOf("]", i);
      if (end > i) {
        re += pattern.slice(i, end + 1);
        i = end;
      } else re += "\\[";
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const negate = line.startsWith("!");
      const pattern = posix
        .normalize((negate ? line.slice(1) : line).trim())
        .replace(/^\/+/, "")
        .replace(/\/+$/, "");
      return { negate, re: patternToRegExp(pattern) };
    });
}

/** True when `path` (relative to the context) is left out of the build context. A rule on a folder applies to what it holds. */
function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  const parts = path.split("/");
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const rule of rules) if (candidates.some((c) => rule.re.test(c))) ignored = !rule.negate;
  return ignored;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

// ---- Dockerfile, by stage ----

interface Stage {
  from: From;
  name: string | null;
  instructions: Instruction[];
}

function stagesOf(dockerfile: Dockerfile): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const from = instruction as From;
      stages.push({ from, name: from.getBuildStage(), instructions: [] });
    } else stages.at(-1)?.instructions.push(instruction);
  }
  return stages;
}

const keyword = (stage: Stage, word: string) => stage.instructions.filter((i) => i.getKeyword() === word);
const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const json = (i: Instruction) => (i as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());
const fromFlag = (i: Instruction) => (i as Copy).getFromFlag()?.getValue() ?? null;
const workdir = (stage: Stage, before: Instruction) => {
  let dir = "/";
  for (const i of stage.instructions) {
    if (i === before) break;
    if (i.getKeyword() === "WORKDIR") dir = posix.resolve(dir, args(i)[0]!);
  }
  return dir;
};
/** COPY sources and destination, flags removed. */
const copyParts = (i: Instruction) => {
  const parts = args(i).filter((a) => !a.startsWith("--"));
  return { sources: parts.slice(0, -1), dest: parts.at(-1)! };
};
/** Shell commands of a RUN, split on && ; and |. */
const commandsOf = (i: Instruction) =>
  (i.getArgumentsContent() ?? "")
    .replace(/\\\n/g, " ")
    .split(/&&|;|\|\|?/)
    .map((c) => c.trim())
    .filter(Boolean)
    // RUN flags (--mount=...) are not part of the command.
    .map((c) => c.replace(/^(--\S+\s+)+/, ""));

let text: string;
let dockerfile: Dockerfile;
let stages: Stage[];
let runtime: Stage;
let build: Stage;
let ignore: IgnoreRule[];

beforeAll(() => {
  text = readFileSync(DOCKERFILE, "utf8");
  dockerfile = DockerfileParser.parse(text);
  stages = stagesOf(dockerfile);
  runtime = stages.at(-1)!;
  build = stages.find((s) => s.name === "build")!;
  ignore = parseDockerignore(readFileSync(DOCKERIGNORE, "utf8"));
});

describe("docker/Dockerfile", () => {
  it("passes the Dockerfile linter with no diagnostics", () => {
    expect(validate(text, {}).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    // The linter is live: a misspelt instruction is reported.
    expect(validate(text.replace("ENTRYPOINT", "ENTRYPIONT"), {}).length).toBeGreaterThan(0);
  });

  it("is multi-stage on a current Node LTS slim base", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build, "a stage named build").toBeDefined();
    expect(runtime.name).toBe("runtime");
    const initial = Object.fromEntries(dockerfile.getInitialARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue()]));
    for (const stage of stages) {
      const image = stage.from.getImage()!.replace(/\$\{(\w+)\}/g, (_, name: string) => initial[name] ?? "");
      const match = /^node:(\d+)-slim$/.exec(image);
      expect(match, `${image}: node:<LTS>-slim`).not.toBeNull();
      const major = Number(match![1]);
      expect(major % 2, "LTS lines are even").toBe(0);
      expect(major).toBeGreaterThanOrEqual(22);
    }
  });

  it("builds with dev dependencies and ships production dependencies only", () => {
    const buildRuns = keyword(build, "RUN").flatMap(commandsOf);
    expect(buildRuns.some((c) => /^npm ci\b/.test(c) && !c.includes("--omit=dev"))).toBe(true);
    expect(buildRuns).toContain("npm run build");
    const runtimeRuns = keyword(runtime, "RUN").flatMap(commandsOf);
    expect(runtimeRuns.some((c) => /^npm ci\b.*--omit=dev/.test(c))).toBe(true);
    expect(runtimeRuns.join("\n")).not.toMatch(/npm run build|npm install/);
    // From the build stage only the compiled output: not its node_modules (dev dependencies), not src.
    const fromBuild = keyword(runtime, "COPY").filter((i) => fromFlag(i) === "build");
    expect(fromBuild.flatMap((i) => copyParts(i).sources)).toEqual([`${workdir(build, build.instructions.at(-1)!)}/dist`]);
    expect(keyword(runtime, "COPY").flatMap((i) => copyParts(i).sources)).not.toContain("src");
    expect(keyword(runtime, "ENV").map((i) => i.getArgumentsContent())).toContain("NODE_ENV=production");
  });

  it("fetches nothing but npm packages: every RUN is npm or rm, and nothing is ADDed", () => {
    expect(stages.flatMap((s) => keyword(s, "ADD"))).toEqual([]);
    for (const stage of stages)
      for (const command of keyword(stage, "RUN").flatMap(commandsOf)) expect(command.split(/\s+/)[0], command).toMatch(/^(npm|rm)$/);
    expect(text).not.toMatch(/\b(curl|wget|apt-get|apk|git clone)\b/);
  });

  it("runs as a numeric non-root user, the one the pod expects, on a root-owned read-only app", () => {
    const users = keyword(runtime, "USER");
    expect(users).toHaveLength(1);
    const [uid, gid] = args(users[0]!)[0]!.split(":");
    expect(uid).toMatch(/^\d+$/); // numeric, so runAsNonRoot can verify it
    expect(Number(uid)).toBeGreaterThan(0);
    const { sidecar } = podView(loadManifests());
    expect(sidecar.securityContext.runAsUser).toBe(Number(uid));
    expect(sidecar.securityContext.runAsGroup).toBe(Number(gid));
    // USER comes after every RUN and COPY, which therefore stay root-owned: the process cannot modify its code.
    const at = runtime.instructions.indexOf(users[0]!);
    for (const i of runtime.instructions.slice(at + 1)) expect(i.getKeyword()).not.toMatch(/^(RUN|COPY|ADD)$/);
    for (const i of keyword(runtime, "COPY")) expect(args(i).some((a) => a.startsWith("--chown") || a.startsWith("--chmod"))).toBe(false);
    expect(keyword(runtime, "VOLUME")).toEqual([]);
  });

  it("starts node dist/main.js run -c /etc/attache (the package's bin, and the pod's args)", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const entrypoint = keyword(runtime, "ENTRYPOINT");
    expect(entrypoint).toHaveLength(1);
    // The node flags are those of the bin's first line ("#!/usr/bin/env -S node FLAGS"): one runtime setting.
    const shebang = readFileSync(join(ROOT, "src/main.ts"), "utf8").split("\n")[0]!;
    const flags = /^#!\/usr\/bin\/env -S node((?: --[a-z-]+=\S+)*)$/.exec(shebang)?.[1]?.trim().split(" ") ?? [];
    expect(flags.length, shebang).toBeGreaterThan(0);
    expect(json(entrypoint[0]!)).toEqual(["node", ...flags, pkg.bin.attache]);
    const cmd = keyword(runtime, "CMD");
    expect(cmd).toHaveLength(1);
    expect(json(cmd[0]!)).toEqual(["run", "-c", "/etc/attache"]);
    expect(podView(loadManifests()).sidecar.args).toEqual(json(cmd[0]!));
  });

  it("exposes the listener and admin ports and has a health check on the admin port", () => {
    expect(keyword(runtime, "EXPOSE").flatMap(args).sort()).toEqual(["8001", "9901"]);
    const health = keyword(runtime, "HEALTHCHECK");
    expect(health).toHaveLength(1);
    expect(health[0]!.getArgumentsContent()).toMatch(/127\.0\.0\.1:9901\/healthz/);
  });

  it("copies only files that exist and that .dockerignore lets into the context", () => {
    for (const stage of stages)
      for (const copy of keyword(stage, "COPY").filter((i) => fromFlag(i) === null))
        for (const source of copyParts(copy).sources) {
          const full = join(ROOT, source);
          expect(existsSync(full), `${source} exists`).toBe(true);
          expect(isIgnored(ignore, source), `${source} is in the build context`).toBe(false);
          if (statSync(full).isDirectory())
            for (const file of filesUnder(full)) expect(isIgnored(ignore, relative(ROOT, file)), relative(ROOT, file)).toBe(false);
        }
  });

  it("copies everything the build reads: the build script, the tsconfig chain it names and what it includes", () => {
    const copied = keyword(build, "COPY").flatMap((i) => copyParts(i).sources);
    const buildScript = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.build as string;
    const script = /^node\s+(\S+)$/.exec(buildScript)?.[1];
    expect(script, buildScript).toBeDefined();
    expect(copied, `${script} is copied`).toContain(script);
    const project = /tsconfig:\s*"([^"]+)"/.exec(readFileSync(join(ROOT, script!), "utf8"))?.[1];
    expect(project, `${script} names its tsconfig`).toBeDefined();
    // Every file of the extends chain, and the include list of the nearest file that has one.
    let config: string | undefined = project;
    let include: string[] | undefined;
    while (config) {
      expect(copied, `${config} is copied`).toContain(config);
      const parsed = JSON.parse(readFileSync(join(ROOT, config), "utf8"));
      include ??= parsed.include;
      config = parsed.extends?.replace(/^\.\//, "");
    }
    expect(include?.length).toBeGreaterThan(0);
    for (const entry of include!) expect(copied, `${entry} is copied`).toContain(entry.split("/")[0]);
    // npm run build comes after the sources are in place.
    const runBuild = build.instructions.findIndex((i) => i.getKeyword() === "RUN" && commandsOf(i).includes("npm run build"));
    const lastCopy = build.instructions.map((i) => i.getKeyword()).lastIndexOf("COPY");
    expect(runBuild).toBeGreaterThan(lastCopy);
  });

  it("ships the entry point that npm run build produces, with package.json for ES modules", () => {
    // The runtime's ENTRYPOINT script, traced through COPY --from=build to the build's output folder.
    const entry = json(keyword(runtime, "ENTRYPOINT")[0]!).at(-1)!;
    const runtimeDir = workdir(runtime, keyword(runtime, "ENTRYPOINT")[0]!);
    const entryAbs = posix.resolve(runtimeDir, entry);
    // Where each COPY source lands; the last COPY that covers the entry point is the one that provides it.
    const landing = (i: Instruction, source: string) => {
      const { dest } = copyParts(i);
      const at = posix.resolve(workdir(runtime, i), dest);
      return dest.endsWith("/") ? posix.join(at, posix.basename(source)) : at;
    };
    const copy = keyword(runtime, "COPY")
      .filter((i) =>
        copyParts(i).sources.some((source) => entryAbs === landing(i, source) || entryAbs.startsWith(`${landing(i, source)}/`)),
      )
      .at(-1);
    expect(copy, `a COPY provides ${entryAbs}`).toBeDefined();
    expect(fromFlag(copy!)).toBe("build");
    const dest = landing(copy!, copyParts(copy!).sources[0]!);
    const sourceInBuild = posix.join(copyParts(copy!).sources[0]!, posix.relative(dest, entryAbs));
    const buildDir = workdir(build, build.instructions.at(-1)!);
    const inRepo = posix.relative(buildDir, sourceInBuild);
    const outDir = JSON.parse(readFileSync(join(ROOT, "tsconfig.build.json"), "utf8")).compilerOptions.outDir;
    expect(inRepo.startsWith(`${posix.normalize(outDir)}/`), `${inRepo} is in the build's outDir ${outDir}`).toBe(true);
    expect(existsSync(join(ROOT, inRepo)), `${inRepo} exists after npm run build`).toBe(true);
    // "type": "module" must travel with dist/.
    const copiedToRuntime = keyword(runtime, "COPY")
      .filter((i) => fromFlag(i) === null)
      .flatMap((i) => copyParts(i).sources);
    expect(copiedToRuntime).toContain("package.json");
    expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).type).toBe("module");
  });
});

describe(".dockerignore", () => {
  it("keeps secrets, VCS data, dependencies, build output and tests out of the context", () => {
    for (const path of [
      ".git/config",
      ".env",
      "node_modules/yaml/package.json",
      "dist/main.js",
      "test/deployment/dockerfile.test.ts",
      "examples/kubernetes/secret-redis.yaml",
      "kubeconfig",
      "src/.DS_Store",
    ])
      expect(isIgnored(ignore, path), path).toBe(true);
    for (const path of ["package.json", "package-lock.json", "tsconfig.json", "src/main.ts", "src/config/schema.ts"])
      expect(isIgnored(ignore, path), path).toBe(false);
  });

  it("is read with Docker's rules (folder rules apply to their contents, last match wins)", () => {
    const rules = parseDockerignore("*\n!src\nsrc/**/*.test.ts\n# comment\n");
    expect(isIgnored(rules, "src/a/b.ts")).toBe(false);
    expect(isIgnored(rules, "src/a/b.test.ts")).toBe(true);
    expect(isIgnored(rules, "srcx/a.ts")).toBe(true);
    expect(isIgnored(rules, "README.md")).toBe(true);
  });
});
