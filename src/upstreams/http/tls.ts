/** The route's `tls` block → options for https.Agent / tls.connect. Files are read once, at build, as secret files (bounded, regular files only). */
import type { AgentOptions } from "node:https";
import type { TlsConfig } from "../../config/schema.js";
import { readSecretFile } from "../../config/secrets.js";

export function tlsOptions(tls: TlsConfig | undefined): AgentOptions {
  if (!tls) return {};
  return {
    ...(tls.caFile ? { ca: readSecretFile(tls.caFile) } : {}),
    ...(tls.certFile ? { cert: readSecretFile(tls.certFile) } : {}),
    ...(tls.keyFile ? { key: readSecretFile(tls.keyFile) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    rejectUnauthorized: !tls.insecureSkipVerify,
  };
}
