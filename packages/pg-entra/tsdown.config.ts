import { defineConfig } from 'tsdown'

export const adapters = [
  'pg',
  'postgres',
  'sequelize',
  'typeorm',
  'prisma',
  'knex',
  'mikro-orm',
  'pg-promise',
  'kysely',
  'drizzle',
  'slonik',
] as const

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    cli: 'src/cli/main.ts',
    proxy: 'src/proxy/index.ts',
    ...Object.fromEntries(adapters.map((name) => [`adapters/${name}`, `src/adapters/${name}.ts`])),
  },
  format: ['esm', 'cjs'],
  dts: true,
  platform: 'node',
  target: 'node20',
  clean: true,
  // Maps without the sources embedded: stack traces still name src/ files and lines, at a fraction of the size.
  sourcemap: true,
  outputOptions: { sourcemapExcludeSources: true },
  // Drivers, ORMs and @azure/identity are the application's own: never bundled.
  deps: {
    neverBundle: [
      /^@azure\//,
      /^@opentelemetry\//,
      /^pg($|\/)/,
      /^pg-/,
      'postgres',
      'sequelize',
      'typeorm',
      /^@prisma\//,
      'knex',
      /^@mikro-orm\//,
      'kysely',
      /^drizzle-orm/,
      'redis',
      'ioredis',
    ],
  },
})
