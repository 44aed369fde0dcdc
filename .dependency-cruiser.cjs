// The layers of packages/pg-entra/src, bottom first (DESIGN.md): a module may import from its own folder and from
// lower ranks only. Folders of one rank are siblings and do not import each other.
const layers = [
  ['shared', 'errors'],
  ['config'],
  ['tls', 'identity', 'cache', 'telemetry'],
  ['token'],
  ['auth'],
  ['kernel'],
  ['adapters', 'proxy'],
  ['cli'],
]
const src = '^packages/pg-entra/src/'
const rankOf = (folder) => layers.findIndex((rank) => rank.includes(folder))
const folders = layers.flat()

const forbidden = folders.flatMap((from) =>
  folders
    .filter((to) => to !== from && rankOf(to) >= rankOf(from))
    .map((to) => ({
      name: `${from}-not-to-${to}`,
      comment: `${from}/ is rank ${rankOf(from)}; ${to}/ is rank ${rankOf(to)}: imports point down only`,
      severity: 'error',
      from: { path: `${src}${from}/` },
      to: { path: `${src}${to}/` },
    })),
)

module.exports = {
  forbidden: [
    ...forbidden,
    {
      name: 'no-unknown-layer',
      comment: 'every folder of packages/pg-entra/src belongs to a layer in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: `${src}[^/]+/`, pathNot: `${src}(${folders.join('|')})/` },
      to: {},
    },
    { name: 'no-circular', severity: 'error', from: { path: src }, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    exclude: { path: 'node_modules|dist' },
  },
}
