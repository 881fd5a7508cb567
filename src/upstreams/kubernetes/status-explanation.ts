/** The message of a kubernetes route's Status error: which API server, and for TLS failures where the CA came from. */
import type { AttacheError } from "../../errors.js";
import type { Plan } from "../../kubernetes-api/credential-plan.js";

/** Node's certificate verification error codes. */
const TLS_VERIFY = /CERT|SELF_SIGNED|ISSUER|SIGNATURE|ALTNAME/;

/** `plan`: the connection in use, if any (without one the error already says what was looked for). */
export function explainError(err: AttacheError, route: string, plan: Plan | undefined): string {
  const cause = err.cause as { code?: unknown; message?: string } | undefined;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  if (!plan || err.code !== "upstream_unreachable" || !code) return err.message;
  if (TLS_VERIFY.test(code)) {
    return `route ${route}: the API server's certificate at ${plan.server} could not be verified (${code}: ${cause?.message ?? ""}); check the CA: ${caOrigin(plan)}`;
  }
  return `route ${route}: cannot reach the API server at ${plan.server} (${code})`;
}

function caOrigin(plan: Plan): string {
  if (plan.overrides.includes("caFile") || plan.source === "explicit")
    return plan.tls.ca ? "the route's caFile" : "the system CAs (no caFile on the route)";
  if (plan.source === "in-cluster") return "the service account's ca.crt";
  return plan.tls.ca
    ? `certificate-authority of context ${plan.context} in the kubeconfig`
    : `the system CAs (context ${plan.context} names no certificate-authority)`;
}
