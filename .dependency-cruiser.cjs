// Architecture rules, checked by `npm run lint` (issue 16): the layers of docs/architecture.md.
// A rule broken here is a design question, not a lint nit: change the code, or change the layer
// picture in docs/architecture.md and this file together.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one idea split in two, or an interface in the wrong place.',
      from: {},
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular-types',
      severity: 'error',
      comment: 'Type-only cycles too: they are how a layer starts to know about the one above it.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'dataplane-below-control',
      severity: 'error',
      comment: 'The data plane carries traffic; it never reaches up into control, admin, process or the CLI.',
      from: { path: '^src/dataplane/' },
      to: { path: '^src/(control|admin|process|cli)/' },
    },
    {
      name: 'discovery-below-control',
      severity: 'error',
      comment: 'Discovery keeps endpoint sets (sources, last known good sets, guards, status) and tells its owner what changed; merging them into a config and applying it is control\'s.',
      from: { path: '^src/discovery/' },
      to: { path: '^src/(control|dataplane|process)/' },
    },
    {
      name: 'core-not-admin-or-cli',
      severity: 'error',
      comment: 'The core (config, control, data plane, process model, discovery, registration, observability) is driven by admin and the CLI, never the reverse.',
      from: { path: '^src/(config|control|dataplane|process|discovery|register|observability|util)/' },
      to: { path: '^src/(admin|cli)/' },
    },
    {
      name: 'config-is-a-leaf',
      severity: 'error',
      comment: 'Config parsing and its model depend on nothing of hitless but utilities.',
      from: { path: '^src/config/' },
      to: { path: '^src/(control|dataplane|discovery|register|observability|process|admin|cli|bench)/' },
    },
    {
      name: 'no-bench-in-product',
      severity: 'error',
      comment: 'Benchmark code lives in src/bench and bench/; the product does not load it.',
      from: { path: '^src/(config|control|dataplane|discovery|register|observability|process|admin|util)/' },
      to: { path: '^src/bench/' },
    },
    {
      name: 'import-is-an-edge',
      severity: 'error',
      comment: 'The SmartStack converters (hitless import) are driven by the CLI; nothing else loads them.',
      from: { path: '^src/(config|control|dataplane|process|discovery|register|observability|util|admin|bench)/' },
      to: { path: '^src/import/' },
    },
    {
      name: 'import-reads-config-only',
      severity: 'error',
      comment: 'A converter turns one config into another: it may use config/ (to validate what it prints), never the running parts.',
      from: { path: '^src/import/' },
      to: { path: '^src/(control|dataplane|discovery|register|observability|process|admin|cli|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
