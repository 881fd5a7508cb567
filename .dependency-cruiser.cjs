/**
 * What imports may not do (`npm run depcheck`, run by .ci/run): form a cycle, even through a type;
 * reach proxy/ from upstreams/, or upstreams/ from discovery/; reach anything above them from the
 * shared modules (http/: headers, body counting, error responses; kubernetes-api/: the API
 * connection and its credentials); reach test/ from src/.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle, type-only ones included: split the shared part into a module below both.",
      from: {},
      to: { circular: true },
    },
    {
      name: "upstreams-not-to-proxy",
      severity: "error",
      comment: "Upstreams sit below the request pipeline; what both need lives in src/http/.",
      from: { path: "^src/upstreams/" },
      to: { path: "^src/proxy/" },
    },
    {
      name: "discovery-not-to-upstreams",
      severity: "error",
      comment: "Discovery finds endpoints for upstreams and knows none of them; the Kubernetes API connection is in src/kubernetes-api/.",
      from: { path: "^src/discovery/" },
      to: { path: "^src/upstreams/" },
    },
    {
      name: "shared-modules-stay-below",
      severity: "error",
      comment: "src/http/ and src/kubernetes-api/ are shared by proxy/, upstreams/ and discovery/, so import none of them.",
      from: { path: "^src/(http|kubernetes-api)/" },
      to: { path: "^src/(proxy|upstreams|discovery|routing|lifecycle|admin|cli)/" },
    },
    {
      name: "src-not-to-test",
      severity: "error",
      comment: "Shipped code never imports the tests or their harness.",
      from: { path: "^src/" },
      to: { path: "^test/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Type-only imports count: a cycle through types is still a cycle for the reader.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
