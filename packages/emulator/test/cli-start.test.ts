// The CLI: `start` prints the environment (export lines or JSON) and runs until signalled; `token` in another
// process prints a fresh token for a principal of that emulator; psql connects with both.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { childEnv, decodeJwt, packageDir, runNode } from './entra-fixtures.js'

const cli = ['--import', 'tsx', join(packageDir, 'src/cli/main.ts')]
const scratch = mkdtempSync(join(tmpdir(), 'pg-entra-emulator-cli-'))
const started: ChildProcess[] = []
afterAll(() => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL')
  rmSync(scratch, { recursive: true, force: true })
})

interface Running {
  child: ChildProcess
  stdout: string
  stderr: string
  statePath: string
  exited: Promise<number | null>
}

async function start(args: string[], name: string): Promise<Running> {
  const statePath = join(scratch, `${name}.json`)
  const child = spawn(process.execPath, [...cli, 'start', ...args], {
    cwd: packageDir,
    env: childEnv({ PG_ENTRA_EMULATOR_STATE: statePath }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child)
  const running: Running = {
    child,
    stdout: '',
    stderr: '',
    statePath,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  }
  child.stdout?.on('data', (d: Buffer) => {
    running.stdout += d.toString()
  })
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      running.stderr += d.toString()
      if (running.stderr.includes('ready in')) resolve()
    })
    child.on('exit', () => reject(new Error(`start exited early:\n${running.stderr}`)))
  })
  // stdout is written right after the ready line
  for (let i = 0; i < 100 && !running.stdout.endsWith('\n'); i++) await new Promise((r) => setTimeout(r, 20))
  return running
}

function parseExports(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.trim().split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line)
    if (!m) throw new Error(`not an export line: ${line}`)
    env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1')
  }
  return env
}

function psql(env: Record<string, string>, password: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      'psql',
      ['-XtAc', 'select current_user'],
      { env: childEnv({ ...env, PGPASSWORD: password }) },
      (e, out, err) => (e ? reject(new Error(err)) : resolve(out.trim())),
    ),
  )
}

async function stop(running: Running) {
  running.child.kill('SIGTERM')
  expect(await running.exited).toBe(0)
  expect(running.stderr).toContain('stopped')
  expect(existsSync(running.statePath)).toBe(false)
}

describe('pg-entra-emulator start', () => {
  it('managed-identity profile: export lines, token from the state file, psql connects, SIGTERM stops it', async () => {
    const running = await start([], 'mi')
    const env = parseExports(running.stdout)
    expect(Object.keys(env)).toEqual([
      'PGHOST',
      'PGPORT',
      'PGDATABASE',
      'PGUSER',
      'PGSSLMODE',
      'PGSSLROOTCERT',
      'NODE_EXTRA_CA_CERTS',
      'PG_ENTRA_EMULATOR_URL',
      'IDENTITY_ENDPOINT',
      'IDENTITY_HEADER',
    ])
    expect(env).toMatchObject({ PGHOST: '127.0.0.1', PGUSER: 'demo-app', PGSSLMODE: 'verify-full' })
    expect(statSync(running.statePath).mode & 0o777).toBe(0o600)
    expect(running.stderr).not.toContain('instance discovery')

    const fromState = await runNode([...cli, 'token'], childEnv({ PG_ENTRA_EMULATOR_STATE: running.statePath }))
    expect(fromState.code).toBe(0)
    const token = fromState.stdout.trim()
    expect(decodeJwt(token).claims.xms_mirid).toMatch(/\/sites\/demo-app$/)
    expect(await psql(env, token)).toBe('demo-app')

    const viaUrl = await runNode(
      [...cli, 'token', '--principal', 'demo-sp', '--lifetime', '120'],
      childEnv({
        PG_ENTRA_EMULATOR_URL: env.PG_ENTRA_EMULATOR_URL!,
        PG_ENTRA_EMULATOR_STATE: join(scratch, 'none.json'),
      }),
    )
    expect(viaUrl.code).toBe(0)
    const sp = decodeJwt(viaUrl.stdout.trim()).claims
    expect(sp.exp - sp.iat).toBe(120)
    expect(await psql({ ...env, PGUSER: 'demo-sp' }, viaUrl.stdout.trim())).toBe('demo-sp')
    await stop(running)
  })

  it('service-principal profile with --json, --principal and --token-lifetime, and the discovery warning', async () => {
    const running = await start(
      ['--profile', 'service-principal', '--json', '--principal', 'my-api', '--token-lifetime', '600'],
      'sp',
    )
    const env = JSON.parse(running.stdout) as Record<string, string>
    expect(env).toMatchObject({ PGUSER: 'my-api', PGSSLMODE: 'verify-full' })
    for (const key of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_AUTHORITY_HOST']) {
      expect(env[key]).toBeTruthy()
    }
    expect(env.IDENTITY_ENDPOINT).toBeUndefined()
    expect(env.AZURE_AUTHORITY_HOST).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(running.stderr).toMatch(/instance discovery/)
    const token = await runNode([...cli, 'token'], childEnv({ PG_ENTRA_EMULATOR_STATE: running.statePath }))
    const claims = decodeJwt(token.stdout.trim()).claims
    expect(claims).toMatchObject({ appid: env.AZURE_CLIENT_ID, tid: env.AZURE_TENANT_ID })
    expect(claims.exp - claims.iat).toBe(600)
    expect(await psql(env, token.stdout.trim())).toBe('my-api')
    await stop(running)
  })
})

describe('usage and errors', () => {
  it('--help on each command prints usage with examples', async () => {
    for (const args of [['--help'], ['start', '--help'], ['token', '--help'], ['help', 'start']]) {
      const result = await runNode([...cli, ...args], childEnv({}))
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/Usage: pg-entra-emulator/)
      expect(result.stdout).toMatch(/Examples:/)
    }
    expect((await runNode([...cli, 'help', 'start'], childEnv({}))).stdout).toMatch(/^Usage: pg-entra-emulator start/)
    const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'))
    const printed = await runNode([...cli, '--version'], childEnv({}))
    expect(printed).toMatchObject({ code: 0, stdout: `${version}\n` })
  })

  it('errors print code: message and hint:, exit 2, no stack', async () => {
    const cases = [
      [['start', '--profile', 'nope'], /^BAD_ARGUMENTS: unknown profile "nope"\nhint: /],
      [['start', '--token-lifetime', 'soon'], /^BAD_ARGUMENTS: --token-lifetime must be/],
      [
        ['start', '--token-lifetime', '-5'],
        /^BAD_ARGUMENTS: --token-lifetime needs a value, and got an option instead\n/,
      ],
      [['token', '--bogus'], /^BAD_ARGUMENTS: /],
      [['token'], /^NO_RUNNING_EMULATOR: /],
      [
        ['token', '--url', 'http://127.0.0.1:9/x'],
        /^EMULATOR_NOT_RUNNING: the emulator at http:\/\/127.0.0.1:9 is not running/,
      ],
      [['frobnicate'], /^BAD_ARGUMENTS: unknown command/],
      [['strat'], /^BAD_ARGUMENTS: unknown command "strat"\nhint: did you mean "start"\? the commands are start, stop/],
      [
        ['stop'],
        /^NO_RUNNING_EMULATOR: nothing to stop: .*\nhint: no emulator started with pg-entra-emulator start runs here/,
      ],
      // before anything starts: nothing is left running (no state file below)
      [
        ['start', '--detach', '--write-env', '/nonexistent/dir/emulator.env'],
        /^BAD_ARGUMENTS: cannot write the --write-env file \/nonexistent\/dir\/emulator.env \(ENOENT\)\nhint: give a path/,
      ],
    ] as const
    for (const [args, pattern] of cases) {
      const result = await runNode([...cli, ...args], childEnv({ PG_ENTRA_EMULATOR_STATE: join(scratch, 'none.json') }))
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr).toMatch(pattern)
      expect(result.stderr).toMatch(/\nhint: .+\n$/)
      expect(result.stderr).not.toMatch(/\n\s+at /)
    }
    expect(existsSync(join(scratch, 'none.json'))).toBe(false)
  })
})
