// psql, pg_dump and pgbench, which take only a password, through the proxy: tokens of 15 s roll over under them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { shortLivedPrincipal, uniqueName } from '../../../../tools/test/emulator.js'
import type { EntraProxy } from '../../src/proxy/index.js'
import {
  createOwnSchema,
  type Emu,
  libpqEnv,
  type Principal,
  principalFor,
  proxyFor,
  rolloverVerdict,
  runTool,
} from './_proxy.js'
import { emulatorOverSystemPostgres } from './_system-postgres.js'

let emu: Emu
let sp: Principal
let proxy: EntraProxy
const lines: string[] = []

beforeAll(async () => {
  ;({ emu, sp } = await principalFor('proxy-tools'))
  await createOwnSchema(emu, sp.roleName!)
  proxy = await proxyFor(emu, sp, { onConnection: (event) => lines.push(JSON.stringify(event)) })
})

afterAll(async () => {
  await proxy?.close({ graceMs: 1000 })
})

describe('PostgreSQL tools through the proxy', () => {
  it('psql connects with no password and runs queries as the role', async () => {
    const run = await runTool('psql', ['-tAc', 'select current_user'], libpqEnv(proxy, emu, sp.roleName))
    expect(run.stderr).toBe('')
    expect(run.stdout.trim()).toBe(sp.roleName)
    expect(run.code).toBe(0)
  })

  it('psql given no user sends the OS user: the server refuses it, and the proxy adds a hint saying so', async () => {
    const osUser = userInfo().username
    const run = await runTool('psql', ['-tAc', 'select 1'], libpqEnv(proxy, emu))
    expect(run.stderr).toContain(`password authentication failed for user "${osUser}"`)
    expect(run.stderr).toContain(
      `HINT:  "${osUser}" is your OS user name, which psql and other libpq clients send when they are given no user: ` +
        "give the database role with -U or PGUSER (pg-entra whoami names the token's own)",
    )
    expect(run.code).toBe(2)
    // a role that is not the OS user's name: the server's refusal as it is
    const other = await runTool('psql', ['-tAc', 'select 1'], libpqEnv(proxy, emu, uniqueName('no-such-role')))
    expect(other.stderr).toMatch(/password authentication failed for user/)
    expect(other.stderr).not.toContain('HINT:')
  })

  it('pgbench -C (a new connection per transaction) for more than three token lifetimes: no failure, current tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-entra-pgbench-'))
    try {
      const script = join(dir, 'select.sql')
      writeFileSync(script, 'select 1;\n')
      const seconds = 50 // tokens of 15 s: three roll over during the run
      const run = await runTool(
        'pgbench',
        ['-n', '-C', '-c', '2', '-R', '20', '-T', String(seconds), '-f', script],
        libpqEnv(proxy, emu, sp.roleName),
        (seconds + 60) * 1000,
      )
      expect(run.stderr).not.toMatch(/error|FATAL/i)
      expect(run.code).toBe(0)
      const processed = Number(/number of transactions actually processed: (\d+)/.exec(run.stdout)?.[1])
      expect(processed).toBeGreaterThan(100)
      expect(run.stdout).toMatch(/number of failed transactions: 0 /)
      const verdict = await rolloverVerdict(emu, sp)
      expect(verdict.rejected).toBe(0)
      expect(verdict.foreignTokens).toBe(0)
      expect(verdict.staleConnections).toBe(0)
      expect(verdict.tokensUsed).toBeGreaterThanOrEqual(4)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})

describe('pg_dump through the proxy (PostgreSQL 15, as pg_dump 15 requires)', () => {
  let pg15: Awaited<ReturnType<typeof emulatorOverSystemPostgres>>
  beforeAll(async () => {
    pg15 = await emulatorOverSystemPostgres()
  })
  afterAll(async () => {
    await pg15?.stop()
  })

  it('dumps the schema and the rows of the role', async () => {
    const emu15 = pg15.emulator
    const sp15 = await shortLivedPrincipal(emu15, uniqueName('proxy-dump'), 15)
    await createOwnSchema(emu15, sp15.roleName!)
    const dumpProxy = await proxyFor(emu15, sp15)
    try {
      const env = libpqEnv(dumpProxy, emu15, sp15.roleName)
      const create = await runTool(
        'psql',
        [
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          "create table dumped (id int primary key, note text); insert into dumped values (1, 'through the proxy')",
        ],
        env,
      )
      expect(create.stderr).toBe('')
      const dump = await runTool('pg_dump', ['-n', sp15.roleName!], env)
      expect(dump.stderr).toBe('')
      expect(dump.code).toBe(0)
      expect(dump.stdout).toMatch(/CREATE TABLE .*dumped/)
      expect(dump.stdout).toContain('through the proxy')
    } finally {
      await dumpProxy.close({ graceMs: 1000 })
    }
  })
})
