// The package as users install it: the built dist through package.json's exports map.
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const require = createRequire(import.meta.url)
const ADAPTERS = [
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
]
// The npm packages of every client an adapter may serve: loading one adapter must load none of the others.
const CLIENT_PACKAGES = [
  'postgres',
  'sequelize',
  'typeorm',
  '@prisma/adapter-pg',
  '@prisma/client',
  'knex',
  '@mikro-orm/core',
  'pg-promise',
  'kysely',
  'drizzle-orm',
  'slonik',
  'redis',
  'ioredis',
]

describe('pg-entra exports', () => {
  it('the root exports exactly the public API, the same from ESM and CommonJS', async () => {
    const esm = Object.keys(await import('pg-entra')).sort()
    const cjs = Object.keys(require('pg-entra')).sort()
    expect(esm).toEqual(['PgEntraError', 'entraAuth', 'fileCache', 'isPgEntraError', 'memoryCache', 'redisCache'])
    expect(cjs).toEqual(esm)
  })

  it('isPgEntraError recognises an error from the other module format', async () => {
    const esm = await import('pg-entra')
    const cjs = require('pg-entra') as typeof esm
    const error = new cjs.PgEntraError('INVALID_OPTION', 'x')
    expect(error instanceof esm.PgEntraError).toBe(false)
    expect(esm.isPgEntraError(error)).toBe(true)
  })

  it.each(ADAPTERS)('pg-entra/%s loads alone, from CommonJS and ESM, without any other client', async (name) => {
    const script = `
      const before = new Set(Object.keys(require.cache))
      require('pg-entra/${name}')
      const loaded = Object.keys(require.cache).filter((f) => !before.has(f))
      import('pg-entra/${name}').then((m) => console.log(JSON.stringify({ loaded, esmKeys: Object.keys(m) })))
    `
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: process.cwd() })
    const { loaded, esmKeys } = JSON.parse(stdout) as { loaded: string[]; esmKeys: string[] }
    expect(esmKeys.length).toBeGreaterThan(0)
    const packagesLoaded = new Set(
      loaded.flatMap((file) => {
        const match = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)
        return match ? [match[match.length - 1]!.replace(/^node_modules\/|\/$/g, '')] : []
      }),
    )
    // pg-entra/knex extends Knex's own pg client class, so it loads Knex itself (an app importing it has Knex loaded).
    const own: Record<string, string> = { knex: 'knex' }
    const others = CLIENT_PACKAGES.filter((p) => packagesLoaded.has(p) && p !== own[name])
    expect(others).toEqual([])
  })

  it('pg-entra/proxy exports startProxy alone, from CommonJS and ESM, and loads no client', async () => {
    const script = `
      const before = new Set(Object.keys(require.cache))
      const cjsKeys = Object.keys(require('pg-entra/proxy'))
      const loaded = Object.keys(require.cache).filter((f) => !before.has(f))
      import('pg-entra/proxy').then((m) => console.log(JSON.stringify({ loaded, cjsKeys, esmKeys: Object.keys(m) })))
    `
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: process.cwd() })
    const { loaded, cjsKeys, esmKeys } = JSON.parse(stdout) as {
      loaded: string[]
      cjsKeys: string[]
      esmKeys: string[]
    }
    expect(esmKeys).toEqual(['startProxy'])
    expect(cjsKeys).toEqual(['startProxy'])
    const clients = [...CLIENT_PACKAGES, '@azure/identity']
    expect(loaded.filter((file) => clients.some((name) => file.includes(`node_modules/${name}/`)))).toEqual([])
  })
})
