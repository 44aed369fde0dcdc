// drizzle-kit, a migration tool that takes a static URL, applying a schema through the proxy and through pg-entra exec.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { cliPath, servicePrincipalFlags } from '../integration/_cli.js'
import { asAdmin, createOwnSchema, principalFor, proxyFor, rolloverVerdict, runTool } from './_proxy.js'

const here = dirname(fileURLToPath(import.meta.url))
const fixture = join(here, 'fixtures', 'drizzle-kit')
const drizzleKit = join(here, '..', '..', '..', '..', 'node_modules', '.bin', 'drizzle-kit')

/** drizzle-kit run from the fixture's directory (it reads drizzle.config.ts there). */
function drizzle(args: string[], env: Record<string, string>) {
  return runTool('sh', ['-c', `cd "${fixture}" && exec "${drizzleKit}" "$@"`, 'drizzle-kit', ...args], env)
}

/** The columns of proxied_items in the role's schema, asked through the same way in. */
async function columnsVia(env: Record<string, string>, schema: string): Promise<string> {
  const run = await runTool(
    'psql',
    [
      env.DATABASE_URL!,
      '-tAc',
      `select string_agg(column_name, ',' order by ordinal_position) from information_schema.columns where table_schema = '${schema}' and table_name = 'proxied_items'`,
    ],
    {},
  )
  expect(run.stderr).toBe('')
  return run.stdout.trim()
}

describe('drizzle-kit', () => {
  it('pushes a schema through the proxy', async () => {
    const { emu, sp } = await principalFor('proxy-drizzle')
    const role = sp.roleName!
    await createOwnSchema(emu, role)
    const proxy = await proxyFor(emu, sp)
    try {
      const env = {
        DATABASE_URL: `postgresql://${encodeURIComponent(role)}@${proxy.host}:${proxy.port}/${emu.pg.database}`,
        DRIZZLE_SCHEMA: role,
      }
      const push = await drizzle(['push', '--force'], env)
      expect(push.code, push.stdout + push.stderr).toBe(0)
      expect(await columnsVia(env, role)).toBe('id,name,quantity')
      expect((await rolloverVerdict(emu, sp)).rejected).toBe(0)
    } finally {
      await proxy.close({ graceMs: 1000 })
    }
  }, 120_000)

  it('generates and applies migrations through pg-entra exec --url-env', async () => {
    const { emu, sp } = await principalFor('exec-drizzle')
    const role = sp.roleName!
    await createOwnSchema(emu, role)
    // drizzle's migrator runs `create schema if not exists` for its journal, which needs CREATE on the database.
    await asAdmin(emu, `grant create on database "${emu.pg.database}" to "${role}"`)
    const out = mkdtempSync(join(tmpdir(), 'pg-entra-drizzle-'))
    try {
      const env = { DRIZZLE_SCHEMA: role, DRIZZLE_OUT: out }
      const generate = await drizzle(['generate'], env)
      expect(generate.code, generate.stdout + generate.stderr).toBe(0)
      const url = `postgres://${encodeURIComponent(role)}@localhost:${emu.pg.port}/${emu.pg.database}?sslrootcert=${encodeURIComponent(emu.caPath)}`
      const migrate = await runTool(
        process.execPath,
        [
          cliPath,
          'exec',
          ...servicePrincipalFlags(emu, sp),
          '--url',
          url,
          '--url-env',
          'DATABASE_URL',
          '--',
          'sh',
          '-c',
          `cd "${fixture}" && "${drizzleKit}" migrate && echo && psql "$DATABASE_URL" -tAc "select string_agg(column_name, ',' order by ordinal_position) from information_schema.columns where table_schema = '${role}' and table_name = 'proxied_items'"`,
        ],
        { ...env, AZURE_CLIENT_SECRET: sp.secret! },
      )
      expect(migrate.code, migrate.stdout + migrate.stderr).toBe(0)
      expect(migrate.stdout).toContain('migrations applied successfully')
      expect(migrate.stdout.trim().split('\n').pop()).toBe('id,name,quantity')
      expect(migrate.stdout + migrate.stderr).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  }, 120_000)
})
