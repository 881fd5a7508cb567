/** The kubernetes deny floor (built-in rules, then the root's `kubernetes.deny`) and the grant check of a kubernetes route. */
import { DEFAULT_DENY } from "../../upstreams/kubernetes/default-deny.js";
import type { PathRuleConfig, RootFileConfig, RouteConfig } from "../schema.js";
import type { Grant, GrantProblem } from "./grant.js";

/** The deny rules every kubernetes route starts from: the built-in ones, then the root's `kubernetes.deny`. */
export function kubernetesDenyFloor(root: RootFileConfig): readonly PathRuleConfig[] {
  return [...DEFAULT_DENY, ...(root.kubernetes?.deny ?? [])];
}

/**
 * A kubernetes route's deny list. A route without `deny` gets the floor. A route whose file may lift
 * it (root file, no owners, or a grant with kubernetes.liftDeny) replaces it with its own list; any
 * other route's rules are added to the floor.
 */
export function kubernetesDeny(route: RouteConfig, floor: readonly PathRuleConfig[], mayLift: boolean): readonly PathRuleConfig[] {
  if (route.deny === undefined) return floor;
  return mayLift ? route.deny : [...floor, ...route.deny];
}

/** A kubernetes route may lift the deny floor, or pass identity headers, only with `kubernetes.liftDeny` in its grant. */
export function checkKubernetes(route: RouteConfig, grant: Grant, key: string, problems: GrantProblem[], matched: string[]): void {
  const own = route.deny?.length ?? 0;
  if (route.deny !== undefined && own === 0 && !grant.liftDeny) {
    problems.push({
      path: ["deny"],
      message: `deny: [] would lift the platform's kubernetes deny floor; ${key}.kubernetes.liftDeny grants that (deny rules written here are added to the floor)`,
    });
  } else if (route.deny !== undefined && grant.liftDeny) matched.push("kubernetes.liftDeny (own deny list)");
  else matched.push(own ? `deny floor + ${own} rule(s)` : "deny floor");
  // Passing the app's Impersonate-* headers lifts a promise as the deny floor does: the same grant.
  if (route.upstream.kubernetes?.identityHeaders === "pass" && !grant.liftDeny) {
    problems.push({
      path: ["upstream", "kubernetes", "identityHeaders"],
      message: `identityHeaders: pass would let the app impersonate whoever attache's ServiceAccount may; ${key}.kubernetes.liftDeny grants that`,
    });
  }
}
