/** ${VAR} and ${VAR:-default} in string values; an unset variable without default is a problem. */

const PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface InterpolationResult {
  value: string;
  missing: string[];
  /** Every variable the text names, set or not (grants limit which a team file may read). */
  used: string[];
}

export function interpolate(text: string, env: NodeJS.ProcessEnv): InterpolationResult {
  const missing: string[] = [];
  const used: string[] = [];
  if (!text.includes("${")) return { value: text, missing, used };
  const value = text.replace(PATTERN, (_match, name: string, fallback: string | undefined) => {
    used.push(name);
    const set = env[name];
    if (set !== undefined) return set;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return "";
  });
  return { value, missing, used };
}
