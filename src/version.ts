/** attache's own version, read once from package.json (the same file in the repo and in the image). */
import { readFileSync } from "node:fs";

export const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
