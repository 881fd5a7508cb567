/** The route's `tls` block → options for https.Agent / tls.connect. Files are read once, at build. */
import { readFileSync } from "node:fs";
import type { AgentOptions } from "node:https";
import type { TlsConfig } from "../../config/schema.js";

export function tlsOptions(tls: TlsConfig | undefined): AgentOptions {
  if (!tls) return {};
  return {
    ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
    ...(tls.certFile ? { cert: readFileSync(tls.certFile) } : {}),
    ...(tls.keyFile ? { key: readFileSync(tls.keyFile) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    rejectUnauthorized: !tls.insecureSkipVerify,
  };
}
