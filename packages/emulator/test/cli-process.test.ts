// The CLI as CI drives it: `start --detach` returns once ready and `stop` ends it; one state file per instance
// name, never taken over while its emulator runs; stale exports get "not running"; a foreground emulator ends
// when the process that started it goes away.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { childEnv, packageDir, runNode } from './entra-fixtures.js'

const cli = ['--import', 'tsx', join(packageDir, 'src/cli/main.ts')]
const scratch = mkdtempSync(join(tmpdir(), 'pg-entra-emulator-process-'))
const env = childEnv({ XDG_CACHE_HOME: scratch })
const pids: number[] = []

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function untilGone(pid: number): Promise<void> {
  while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 100))
}

afterAll(async () => {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM')
  for (const pid of pids) await untilGone(pid)
  rmSync(scratch, { recursive: true, force: true })
})

const statePath = (name: string) => join(scratch, 'pg-entra-emulator', `${name}.json`)

describe('start --detach and stop', () => {
  it('returns once ready with the environment, refuses a second start of the same name, and stop ends it', async () => {
    const envFile = join(scratch, 'ci.env')
    const started = await runNode([...cli, 'start', '--detach', '--name', 'ci', '--write-env', envFile], env, {
      timeoutMs: 120_000,
    })
    expect(started.code, started.stderr).toBe(0)
    const state = JSON.parse(readFileSync(statePath('ci'), 'utf8'))
    pids.push(state.pid)
    expect(started.stdout).toMatch(/^export PGHOST=127\.0\.0\.1$/m)
    expect(readFileSync(envFile, 'utf8')).toBe(started.stdout)
    const url = /^export PG_ENTRA_EMULATOR_URL=(.*)$/m.exec(started.stdout)?.[1]
    expect(url).toBe(state.controlUrl)

    const status = await runNode([...cli, 'status', '--name', 'ci', '--json'], env)
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, name: 'ci', pid: state.pid })
    const token = await runNode([...cli, 'token', '--name', 'ci'], env)
    expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)

    const again = await runNode([...cli, 'start', '--detach', '--name', 'ci'], env)
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/^EMULATOR_ALREADY_RUNNING: an emulator named "ci" is already running/)
    expect(again.stderr).toContain('hint: stop it with `pg-entra-emulator stop --name ci`')
    expect(JSON.parse(readFileSync(statePath('ci'), 'utf8')).pid).toBe(state.pid)

    const wrongName = await runNode([...cli, 'stop'], env)
    expect(wrongName.code).toBe(2)
    expect(wrongName.stderr).toMatch(/^NO_RUNNING_EMULATOR: nothing to stop: .*default\.json\n/)
    expect(wrongName.stderr).toContain('hint: running here: "ci" (pg-entra-emulator stop --name ci)')
    expect(alive(state.pid)).toBe(true)

    const stopped = await runNode([...cli, 'stop', '--name', 'ci'], env)
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(alive(state.pid)).toBe(false)
    expect(existsSync(statePath('ci'))).toBe(false)

    const after = await runNode([...cli, 'status', '--name', 'ci'], env)
    expect(after.code).toBe(2)
    expect(after.stderr).toMatch(/^NO_RUNNING_EMULATOR: /)
    const stale = await runNode([...cli, 'token'], childEnv({ XDG_CACHE_HOME: scratch, PG_ENTRA_EMULATOR_URL: url! }))
    expect(stale.code).toBe(2)
    expect(stale.stderr).toContain(`EMULATOR_NOT_RUNNING: the emulator at ${new URL(url!).origin} is not running`)
  })
})

describe('a foreground emulator', () => {
  it('stops when the process that started it is killed (as npm exec is by `kill $!`)', async () => {
    // a stand-in for npm exec: starts the emulator, prints its pid once it is ready, and never passes signals on
    const launcher = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('node:child_process').spawn(process.execPath, ${JSON.stringify([...cli, 'start', '--name', 'fg'])}, { stdio: ['ignore', 'ignore', 'pipe'] });
         c.stderr.on('data', (d) => { if (String(d).includes('ready in')) console.log(c.pid) })`,
      ],
      { cwd: packageDir, env, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const pid = await new Promise<number>((resolve) =>
      launcher.stdout.on('data', (d: Buffer) => resolve(Number(String(d).trim()))),
    )
    pids.push(pid)
    expect(alive(pid)).toBe(true)
    launcher.kill('SIGKILL')
    await untilGone(pid)
    expect(existsSync(statePath('fg'))).toBe(false)
  })
})

describe('an emulator killed with SIGKILL', () => {
  it('takes its PostgreSQL and its run directory with it (a watchdog does what no exit hook can)', async () => {
    const started = await runNode([...cli, 'start', '--detach', '--name', 'k9'], env, { timeoutMs: 120_000 })
    expect(started.code, started.stderr).toBe(0)
    const state = JSON.parse(readFileSync(statePath('k9'), 'utf8'))
    pids.push(state.pid)
    // The postmaster is the parent of a backend: ask one for its pid, through the front, with a token.
    const vars = Object.fromEntries(
      [...started.stdout.matchAll(/^export (\w+)=(.*)$/gm)].map(([, k, v]) => [k, v!.replace(/^'|'$/g, '')]),
    )
    const token = (await runNode([...cli, 'token', '--name', 'k9'], env)).stdout.trim()
    const client = new pg.Client({
      host: vars.PGHOST,
      port: Number(vars.PGPORT),
      database: vars.PGDATABASE,
      user: vars.PGUSER,
      password: token,
      ssl: { ca: readFileSync(vars.PGSSLROOTCERT!, 'utf8') },
    })
    await client.connect()
    const backend = (await client.query('select pg_backend_pid() as pid')).rows[0].pid as number
    const postmaster = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${backend}/status`, 'utf8'))![1])
    await client.end().catch(() => {})
    const dataDir = realpathSync(`/proc/${postmaster}/cwd`)
    expect(alive(postmaster)).toBe(true)

    process.kill(state.pid, 'SIGKILL')
    await untilGone(state.pid)
    await untilGone(postmaster)
    while (existsSync(dataDir)) await new Promise((resolve) => setTimeout(resolve, 100))
  })
})
