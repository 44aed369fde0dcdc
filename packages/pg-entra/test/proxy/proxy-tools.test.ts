// psql, pg_dump and pgbench, which take only a password, through the proxy: tokens of 15 s roll over under them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

  it('pg_dump dumps the role schema', async () => {
    const env = libpqEnv(proxy, emu, sp.roleName)
    const create = await runTool(
      'psql',
      ['-v', 'ON_ERROR_STOP=1', '-c', 'create table if not exists dumped (id int primary key, note text)'],
      env,
    )
    expect(create.stderr).toBe('')
    const dump = await runTool('pg_dump', ['--schema-only', '-n', sp.roleName!], env)
    expect(dump.stderr).toBe('')
    expect(dump.code).toBe(0)
    expect(dump.stdout).toMatch(/CREATE TABLE .*dumped/)
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
