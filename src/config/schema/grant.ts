/** One team's grant: the long form of an `owners` entry in the root file. */
import { z } from "zod";
import { withoutUserinfo } from "./scalars.js";
import { UPSTREAM_KINDS } from "./upstreams.js";

const hostPattern = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$|^\[[0-9a-fA-F:.]+\]$/, "expected a host name, an IP address, or *.domain")
  .meta({ description: "A host name or IP address; `*.example.com` matches any name under example.com." });

/**
 * What one team's route files may reach (the long form of an `owners` entry). Least privilege: what
 * is not granted here is refused, with the key that would grant it named in the problem.
 */
export const grant = z.strictObject({
  prefixes: z.array(z.string().startsWith("/")).min(1).meta({ description: "Prefixes the team's routes may claim (segment boundaries)." }),
  upstreams: z
    .array(z.enum(UPSTREAM_KINDS))
    .min(1)
    .optional()
    .meta({ description: "Upstream kinds the team's routes may use. Default: [http]." }),
  hosts: z.array(hostPattern).optional().meta({
    description:
      "Hosts its http routes may target (endpoints, DNS discovery names, SERVICE.NAMESPACE.svc[.cluster.local] for Kubernetes discovery). Default: any.",
  }),
  secretDirs: z
    .array(z.string().startsWith("/", "secretDirs are absolute paths"))
    .optional()
    .meta({ description: "Folders its *File keys (and kubeconfig) may read from. Default: none." }),
  env: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name"))
    .optional()
    .meta({
      description: `Environment variables its files may read with \${VAR} (attache's environment may hold secrets). Default: none.`,
    }),
  files: z.array(z.string().min(1)).min(1).optional().meta({
    description:
      "Route files (or folders of them), relative to the root file, that may name this owner: e.g. the team's ConfigMap mount. Default: any included file.",
  }),
  kubernetes: z
    .strictObject({
      liftDeny: z.boolean().optional().meta({
        description:
          "Its kubernetes routes may set deny freely (deny: [] lifts the deny floor) and set identityHeaders: pass. Default: false: their deny rules add to the floor.",
      }),
    })
    .optional()
    .meta({ description: "What its kubernetes routes may change (needs kubernetes in upstreams)." }),
  redis: z
    .strictObject({
      urls: z
        .array(withoutUserinfo(z.url({ protocol: /^rediss?$/, error: "expected a redis:// or rediss:// URL" }), "passwordFile"))
        .min(1)
        .optional()
        .meta({
          description:
            "Servers its redis routes may use (scheme, host and port; sentinels and cluster nodes by host and port). Default: any.",
        }),
      keyPrefix: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "Every redis route of the team must set a keyPrefix that starts with this." }),
      db: z
        .number()
        .int()
        .min(0)
        .optional()
        .meta({ description: "Every redis route of the team must use this database (its url must select it)." }),
    })
    .optional()
    .meta({ description: "Bounds on its redis routes (needs redis in upstreams); each key optional." }),
});
