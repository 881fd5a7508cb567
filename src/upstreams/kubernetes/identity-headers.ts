/**
 * The headers with which a request says who it acts as: removed from the app's requests on kubernetes
 * routes unless the route sets `identityHeaders: pass`. The app gets what attache's ServiceAccount is
 * granted, minus the default deny; with these it could become anyone the ServiceAccount may impersonate.
 *
 * - Impersonate-User, -Group, -Uid and the whole Impersonate-Extra-* family: the API server's impersonation.
 * - X-Remote-*: the request-header (front proxy) authenticator's user, groups and extras.
 * - X-Real-Ip: the API server adds it to the audit log's sourceIPs (X-Forwarded-For is attache's own).
 */
export const IDENTITY_HEADERS: readonly string[] = Object.freeze(["Impersonate-*", "X-Remote-*", "X-Real-Ip"]);
