/** The config's shared value types: duration, size, RE2 regex, host:port, file, URLs without credentials, exactly-one-of. */
import { z } from "zod";
import { pathPatternProblem } from "../path-pattern.js";
import { parseDuration, parseSize } from "../units.js";

export const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const out = parseDuration(value);
    if (out === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `invalid duration ${JSON.stringify(value)} (use e.g. 250ms, 5s, 2m, or integer milliseconds)`,
      });
      return z.NEVER;
    }
    return out;
  })
  .meta({ title: "duration", description: "Duration: a string such as 250ms, 5s, 2m, or integer milliseconds." });

export const size = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const out = parseSize(value);
    if (out === undefined) {
      ctx.addIssue({ code: "custom", message: `invalid size ${JSON.stringify(value)} (use e.g. 512kb, 1mb, or integer bytes)` });
      return z.NEVER;
    }
    return out;
  })
  .meta({ title: "size", description: "Size: a string such as 512kb, 1mb, or integer bytes." });

export const regex = z
  .string()
  .superRefine((source, ctx) => {
    const problem = pathPatternProblem(source);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ title: "RE2 regex", description: "Regular expression in RE2 syntax (matched in linear time; no lookaround or backreferences)." });

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** host:port; IPv6 hosts in brackets ("[::1]:8001"); a port up to 65535, so that a typo fails here, not at listen. */
function hostPortString(message: string) {
  return z
    .string()
    .regex(HOST_PORT, message)
    .refine((s) => Number(HOST_PORT.exec(s)?.[2] ?? 0) <= 65535, "port above 65535")
    .meta({ title: "host:port" });
}

export const address = hostPortString("expected host:port, e.g. 127.0.0.1:8001 or [::1]:8001");
export const hostPort = hostPortString("expected host:port");

/**
 * URLs carry no credentials: userinfo would be printed wherever the URL is (routes, logs, problems),
 * and a secret belongs in a file that can be rotated. The message never repeats the URL.
 */
export function withoutUserinfo<T extends z.ZodType<string>>(url: T, use: string) {
  return url.refine(
    (value) => {
      const u = URL.parse(value);
      return !u || (u.username === "" && u.password === "");
    },
    { message: `credentials in the URL are not allowed: use a *File key (${use})`, abort: true },
  );
}

export const anyHttpUrl = () => z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" });
export const httpUrl = withoutUserinfo(anyHttpUrl(), "auth.bearerTokenFile, or tls.certFile and tls.keyFile");
export const apiServerUrl = withoutUserinfo(anyHttpUrl(), "tokenFile, or kubeconfig");

/** A file the process must be able to read; checked at load (`check-file.ts`) and re-read when it changes. */
export const filePath = z
  .string()
  .min(1)
  .meta({ title: "file", description: "Path of a file that attache reads (and re-reads when it changes)." });

/** An object with exactly one of the given keys set (upstream kinds, discovery sources). */
export function exactlyOne<T extends Record<string, z.ZodType>>(shape: T, what: string) {
  const optional = Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, v.optional()])) as { [K in keyof T]: z.ZodOptional<T[K]> };
  const names = Object.keys(shape);
  return z.strictObject(optional).superRefine((value, ctx) => {
    const set = names.filter((k) => (value as Record<string, unknown>)[k] !== undefined);
    if (set.length !== 1)
      ctx.addIssue({
        code: "custom",
        message: `${what} needs exactly one of ${names.join(", ")}${set.length ? ` (found ${set.join(", ")})` : ""}`,
      });
  });
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"] as const;
export const method = z.enum(METHODS);
