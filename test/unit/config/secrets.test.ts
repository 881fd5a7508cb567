/** Secret files are regular files of bounded size: a FIFO, /dev/zero, a directory or a huge file is refused at once. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileSecret, readSecretFile, secretFileProblem, SECRET_FILE_MAX_BYTES } from "../../../src/config/secrets.js";
import { loadConfig } from "../../../src/config/validate.js";
import { formatProblem } from "../../../src/config/problems.js";
import { tempConfig } from "../../harness/attache.js";

const dir = mkdtempSync(join(tmpdir(), "attache-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fifo = join(dir, "fifo");
execFileSync("mkfifo", [fifo]);
const huge = join(dir, "huge");
writeFileSync(huge, "");
truncateSync(huge, 100 * 1024 * 1024);
const folder = join(dir, "folder");
mkdirSync(folder);
const token = join(dir, "token");
writeFileSync(token, "s3cret\n");
const limit = join(dir, "limit");
writeFileSync(limit, "x".repeat(SECRET_FILE_MAX_BYTES));

describe("secret files", () => {
  it("reads a regular file up to 64 KiB", () => {
    expect(readSecretFile(token).toString()).toBe("s3cret\n");
    expect(readSecretFile(limit).length).toBe(SECRET_FILE_MAX_BYTES);
    expect(secretFileProblem(token)).toBeUndefined();
  });

  it("refuses a FIFO, /dev/zero, a directory and a huge file without reading them", () => {
    expect(secretFileProblem(fifo)).toBe("is a FIFO, not a regular file");
    expect(secretFileProblem("/dev/zero")).toBe("is a character device, not a regular file");
    expect(secretFileProblem(folder)).toBe("is a directory, not a regular file");
    expect(secretFileProblem(huge)).toBe("is 100 MiB; a secret file may hold at most 64 KiB");
    expect(secretFileProblem(join(dir, "missing"))).toBe("does not exist");
    expect(() => readSecretFile(fifo)).toThrow(`secret file ${fifo} is a FIFO, not a regular file`);
    expect(() => readSecretFile("/dev/zero")).toThrow("is a character device");
  });

  it("a FileSecret whose file became a FIFO keeps its last value and does not block", () => {
    const path = join(dir, "rotating");
    writeFileSync(path, "one\n");
    const secret = new FileSecret(path);
    try {
      rmSync(path);
      execFileSync("mkfifo", [path]);
      expect(secret.reload()).toBe(false);
      expect(secret.value).toBe("one");
    } finally {
      secret.close();
    }
    expect(() => new FileSecret(fifo)).toThrow(/is a FIFO/);
  });

  it("validation names the key, the file and why, with file:line:col", async () => {
    const lines = [
      "routes:",
      "  - prefix: /a",
      `    upstream: { http: { endpoints: [http://127.0.0.1:9000], auth: { bearerTokenFile: ${fifo} } } }`,
      "  - prefix: /b",
      `    upstream: { redis: { url: redis://127.0.0.1:6379, passwordFile: /dev/zero } }`,
      "  - prefix: /c",
      `    upstream: { http: { endpoints: [http://127.0.0.1:9000], tls: { caFile: ${huge}, keyFile: ${folder} } } }`,
    ];
    /** Column of the value that follows `key: ` on 1-based line `n`. */
    const col = (n: number, key: string) => lines[n - 1]!.indexOf(`${key}: `) + key.length + 3;
    const { dir: cfg, remove } = tempConfig(`${lines.join("\n")}\n`);
    try {
      const { config, problems } = await loadConfig({ configPath: cfg, env: {} });
      expect(config).toBeUndefined();
      expect(problems.map((p) => formatProblem(p).replaceAll(cfg, "<dir>"))).toEqual([
        `<dir>/attache.yaml:3:${col(3, "bearerTokenFile")}: routes[0].upstream.http.auth.bearerTokenFile: file ${fifo} is a FIFO, not a regular file`,
        `<dir>/attache.yaml:5:${col(5, "passwordFile")}: routes[1].upstream.redis.passwordFile: file /dev/zero is a character device, not a regular file`,
        `<dir>/attache.yaml:7:${col(7, "caFile")}: routes[2].upstream.http.tls.caFile: file ${huge} is 100 MiB; a secret file may hold at most 64 KiB`,
        `<dir>/attache.yaml:7:${col(7, "keyFile")}: routes[2].upstream.http.tls.keyFile: file ${folder} is a directory, not a regular file`,
      ]);
    } finally {
      remove();
    }
  });
});

describe("config files", () => {
  it("an include naming a FIFO is a problem, not a blocked read", async () => {
    const { dir: cfg, remove } = tempConfig(`include: [team.yaml]\n`);
    try {
      execFileSync("mkfifo", [join(cfg, "team.yaml")]);
      const { problems } = await loadConfig({ configPath: cfg, env: {} });
      expect(problems.map((p) => formatProblem(p).replaceAll(cfg, "<dir>"))).toEqual([
        `<dir>/attache.yaml:1:11: include[0]: not a regular file: team.yaml`,
      ]);
    } finally {
      remove();
    }
  });
});
