// pg-entra proxy and pg-entra exec as a user runs them: the built CLI in a child process.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { startupMessage } from '../../src/proxy/wire.js'
import { startImpostor } from '../helpers/impostor.js'
import { cleanEnv, cliPath, runCli, servicePrincipalFlags } from '../integration/_cli.js'
import { createOwnSchema, type Emu, type Principal, principalFor, runTool } from './_proxy.js'

const jwt = /eyJ[\w-]+\.[\w-]+\.[\w-]+/

/** `pg-entra proxy` in a child process, once it prints the address it listens on. */
async function startCliProxy(args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, [cliPath, 'proxy', ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout)
      if (match) resolve(Number(match[1]))
    })
    void exited.then(() => reject(new Error(`the proxy exited: ${stderr}`)))
  })
  return { child, port, exited, stdout: () => stdout, stderr: () => stderr }
}

/** `pg-entra proxy` as the principal, with its secret in the environment, logging connections, to the emulator. */
function startLoggingCliProxy(emu: Emu, sp: Principal, extra: string[] = []) {
  return startCliProxy(
    [
      ...servicePrincipalFlags(emu, sp),
      '--port',
      '0',
      ...extra,
      '--log-connections',
      `host=localhost port=${emu.pg.port} sslrootcert=${emu.caPath}`,
    ],
    { AZURE_CLIENT_SECRET: sp.secret },
  )
}

describe('pg-entra proxy', () => {
  it('--help shows a working example', async () => {
    const { code, stdout } = await runCli(['proxy', '--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('Usage: pg-entra proxy')
    expect(stdout).toContain('pg-entra proxy --port 6432 myserver.postgres.database.azure.com')
  })

  it('serves psql, logs one line per connection without a token, and stops on SIGTERM', async () => {
    const { emu, sp } = await principalFor('cli-proxy')
    const proxy = await startLoggingCliProxy(emu, sp)
    try {
      const env = { PGHOST: '127.0.0.1', PGPORT: String(proxy.port), PGUSER: sp.roleName!, PGDATABASE: emu.pg.database }
      const run = await runTool('psql', ['-tAc', 'select current_user'], env)
      expect(run.stderr).toBe('')
      expect(run.stdout.trim()).toBe(sp.roleName)
      // PGSSLMODE=verify-full left in the shell (as for Azure): libpq hangs up, the proxy's log says why.
      const strict = await runTool('psql', ['-tAc', 'select 1'], { ...env, PGSSLMODE: 'verify-full' })
      expect(strict.stderr).toContain('server does not support SSL, but SSL was required')
    } finally {
      proxy.child.kill('SIGTERM')
    }
    expect(await proxy.exited).toBe(0)
    expect(proxy.stderr()).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\S+ 127\\.0\\.0\\.1:\\d+ user=${sp.roleName} database=${emu.pg.database} connected$`,
        'm',
      ),
    )
    expect(proxy.stderr()).toMatch(
      /^\S+ 127\.0\.0\.1:\d+ refused: the client hung up when the proxy declined TLS: it requires TLS \(sslmode=require or stricter, perhaps PGSSLMODE\); connect to the proxy with sslmode=disable or prefer/m,
    )
    expect(proxy.stdout()).toContain('pg-entra proxy: stopped')
    expect(proxy.stdout() + proxy.stderr()).not.toMatch(jwt)
  })

  it('with --local-password-file, --unix-socket and --user: only the password opens it, on a 0600 socket', async () => {
    const { emu, sp } = await principalFor('cli-proxy-pw')
    const dir = mkdtempSync(join(tmpdir(), 'pg-entra-cli-proxy-'))
    const passwordFile = join(dir, 'password')
    writeFileSync(passwordFile, 'local secret\n', { mode: 0o600 })
    const socket = join(dir, '.s.PGSQL.7777')
    const proxy = await startCliProxy(
      [
        ...servicePrincipalFlags(emu, sp),
        '--port',
        '0',
        '--unix-socket',
        socket,
        '--local-password-file',
        passwordFile,
        '--user',
        sp.roleName!,
        `postgres://localhost:${emu.pg.port}?sslrootcert=${encodeURIComponent(emu.caPath)}`,
      ],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    try {
      expect(statSync(socket).mode & 0o777).toBe(0o600)
      const psql = (password: string) =>
        runTool('psql', ['-h', dir, '-p', '7777', '-d', emu.pg.database, '-tAc', 'select current_user'], {
          PGUSER: sp.roleName!,
          PGPASSWORD: password,
        })
      const wrong = await psql('not it')
      expect(wrong.stderr).toContain(`password authentication failed for user "${sp.roleName}"`)
      const right = await psql('local secret')
      expect(right.stderr).toBe('')
      expect(right.stdout.trim()).toBe(sp.roleName)
    } finally {
      proxy.child.kill('SIGINT')
      await proxy.exited
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('as a managed identity, a client that names no user logs in as the user derived from the token', async () => {
    const emu = await useEmulator()
    const mi = await emu.addPrincipal({ kind: 'managedIdentity', name: uniqueName('cli-proxy-mi'), assignment: 'user' })
    const env = emu.env({ profile: 'managed-identity', principal: mi.name })
    const proxy = await startCliProxy(
      ['--port', '0', '--log-connections', `host=localhost port=${emu.pg.port} sslrootcert=${emu.caPath}`],
      env, // the environment pg-entra-emulator prints for a managed identity: no flags, as on Azure
    )
    try {
      // libpq always names a user: a StartupMessage without one, by hand.
      const answer = await new Promise<Buffer>((resolve, reject) => {
        const socket = connect(proxy.port, '127.0.0.1', () =>
          socket.write(startupMessage(196608, new Map([['database', emu.pg.database]]))),
        )
        socket.once('data', (chunk: Buffer) => {
          socket.destroy()
          resolve(chunk)
        })
        socket.on('error', reject)
      })
      expect([answer[0], answer.readUInt32BE(5)]).toEqual([0x52, 0]) // AuthenticationOk
    } finally {
      proxy.child.kill('SIGTERM')
    }
    expect(await proxy.exited).toBe(0)
    expect(proxy.stderr()).toContain(`user=${mi.name} database=${emu.pg.database} connected`)
  })

  it('stops when its parent goes away (npx passes no SIGTERM on)', async () => {
    const { emu, sp } = await principalFor('cli-proxy-orphan')
    const args = [
      ...servicePrincipalFlags(emu, sp),
      '--port',
      '0',
      `host=localhost port=${emu.pg.port} sslrootcert=${emu.caPath}`,
    ]
    // A shell in between stands for npx: it is killed, the proxy is left to its own.
    const shell = spawn(
      'sh',
      ['-c', `"${process.execPath}" "${cliPath}" proxy "$@" & echo "pid $!"; wait`, 'sh', ...args],
      {
        env: cleanEnv({ AZURE_CLIENT_SECRET: sp.secret }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let proxyGone = false
    const closed = new Promise<void>((resolve) =>
      shell.stdout.once('close', () => {
        proxyGone = true
        resolve()
      }),
    )
    await new Promise<void>((resolve, reject) => {
      shell.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        if (stdout.includes('listening on')) resolve()
      })
      shell.once('exit', () => reject(new Error('the shell exited first')))
    })
    const pid = Number(/^pid (\d+)$/m.exec(stdout)?.[1])
    try {
      shell.kill('SIGKILL')
      await closed // the proxy, which shares the pipe, has exited too
      expect(stdout).toContain('pg-entra proxy: parent process gone, stopping')
      expect(stdout).toContain('pg-entra proxy: stopped')
    } finally {
      // A failed test leaves no proxy behind (only while it still holds the pipe, so the pid is still its own).
      if (!proxyGone && pid > 0) process.kill(pid, 'SIGKILL')
    }
  })

  it('with --max-connections 1: a second client gets psql\'s "too many clients", logged as refused 53300', async () => {
    const { emu, sp } = await principalFor('cli-proxy-cap')
    const proxy = await startLoggingCliProxy(emu, sp, ['--max-connections', '1'])
    const env = { PGHOST: '127.0.0.1', PGPORT: String(proxy.port), PGUSER: sp.roleName!, PGDATABASE: emu.pg.database }
    const held = spawn('psql', ['-tAc', 'select pg_sleep(30)'], { env: cleanEnv(env), stdio: 'ignore' })
    try {
      while (!proxy.stderr().includes(' connected')) await new Promise((resolve) => setTimeout(resolve, 50))
      const second = await runTool('psql', ['-tAc', 'select 1'], env)
      expect(second.code).toBe(2)
      expect(second.stderr).toContain('FATAL:  sorry, too many clients already')
    } finally {
      held.kill('SIGKILL')
      proxy.child.kill('SIGTERM')
    }
    expect(await proxy.exited).toBe(0)
    expect(proxy.stderr()).toMatch(
      new RegExp(` user=${sp.roleName} refused 53300: sorry, too many clients already$`, 'm'),
    )
    const zero = await runCli(['proxy', '--max-connections', '0', 'myserver.postgres.database.azure.com'])
    expect(zero.code).toBe(2)
    expect(zero.stderr).toMatch(/^INVALID_OPTION: maxConnections must be a whole number of at least 1, not 0\nhint: /)
  })

  it('--log-connections: a user name with a line break in it cannot forge a line', async () => {
    const { emu, sp } = await principalFor('cli-proxy-log')
    const proxy = await startLoggingCliProxy(emu, sp)
    const forged = '2026-12-01T00:00:00.000Z 127.0.0.1:1 user=admin database=postgres connected'
    try {
      for (const user of [`x\n${forged}`, `x\r\n${forged}`, `x\u2028${forged}`]) {
        await new Promise<void>((resolve) => {
          const socket = connect(proxy.port, '127.0.0.1', () =>
            socket.write(
              startupMessage(
                196608,
                new Map([
                  ['user', user],
                  ['database', emu.pg.database],
                ]),
              ),
            ),
          )
          socket.on('error', () => {})
          socket.on('data', () => {})
          socket.once('close', () => resolve())
        })
      }
    } finally {
      proxy.child.kill('SIGTERM')
    }
    expect(await proxy.exited).toBe(0)
    const lines = proxy.stderr().split(/\r\n|\r|\n|\u2028|\u2029/)
    expect(lines.filter((line) => line.startsWith('2026-12-01T00:00:00.000Z'))).toEqual([])
    expect(lines.filter((line) => line.includes(' refused ')).length).toBe(3)
    expect(proxy.stderr()).toContain(`user=x\\n${forged}`)
    expect(proxy.stderr()).toContain(`user=x\\u2028${forged}`)
  })

  it('a port another program listens on: a coded error that says what to do, before any token is fetched', async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const { port } = busy.address() as { port: number }
    try {
      const { code, stderr } = await runCli(['proxy', '--port', String(port), 'myserver.postgres.database.azure.com'])
      expect(code).toBe(2)
      expect(stderr).toBe(
        `INVALID_OPTION: cannot listen on 127.0.0.1:${port}: another program listens there\n` +
          'hint: a local PostgreSQL or another proxy, perhaps: choose another port (--port), or 0 for a free one\n',
      )
    } finally {
      busy.close()
    }
  })

  it('a bad option is refused before the proxy listens: it exits, serving nobody', async () => {
    const { code, stderr } = await runCli(
      ['proxy', '--managed-identity', '--port', '0', '--grace-ms', 'abc', 'myserver.postgres.database.azure.com'],
      { IDENTITY_ENDPOINT: 'http://127.0.0.1:9/msi/token', IDENTITY_HEADER: 'unused' },
    )
    expect(stderr).toBe(
      'INVALID_OPTION: --grace-ms must be a whole number up to 86400000\nhint: e.g. --grace-ms 10000\n',
    )
    expect(code).toBe(2)
  })

  it('refuses a non-loopback --listen without --allow-non-loopback', async () => {
    const { code, stderr } = await runCli(['proxy', '--listen', '0.0.0.0', 'myserver.postgres.database.azure.com'])
    expect(code).toBe(2)
    expect(stderr).toMatch(/^INVALID_OPTION: refusing to listen on 0\.0\.0\.0: not a loopback address\nhint: /)
  })
})

describe('pg-entra exec', () => {
  it('--help shows a working example', async () => {
    const { code, stdout } = await runCli(['exec', '--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('Usage: pg-entra exec')
    expect(stdout).toContain('-- pg_dump -Fc -f orders.dump')
  })

  it('runs psql with the token in its environment only, and passes exit codes and signals on', async () => {
    const { emu, sp } = await principalFor('cli-exec')
    const where = ['--host', 'localhost', '--port', String(emu.pg.port), '--database', emu.pg.database]
    const flags = [...servicePrincipalFlags(emu, sp), ...where, '--user', sp.roleName!, '--sslrootcert', emu.caPath]
    const env = { AZURE_CLIENT_SECRET: sp.secret }
    const psql = await runCli(['exec', ...flags, '--', 'psql', '-tAc', 'select current_user'], env)
    expect(psql.stderr).toBe('')
    expect(psql.stdout.trim()).toBe(sp.roleName)
    expect(psql.code).toBe(0)

    const seen = await runCli(
      [
        'exec',
        ...flags,
        '--',
        'sh',
        '-c',
        'echo "$PGSSLMODE $PGUSER $PGHOST $PGPORT $(printf %s "$PGPASSWORD" | wc -c)"; exit 7',
      ],
      env,
    )
    expect(seen.code).toBe(7)
    const [mode, user, host, port, length] = seen.stdout.trim().split(' ')
    expect([mode, user, host, port]).toEqual(['verify-full', sp.roleName, 'localhost', String(emu.pg.port)])
    expect(Number(length)).toBeGreaterThan(500)

    const killed = await runCli(['exec', ...flags, '--', 'sh', '-c', 'kill -TERM $$'], env)
    expect(killed.code).toBe(128 + 15)
    for (const run of [psql, seen, killed]) expect(run.stdout + run.stderr).not.toMatch(jwt)
  })

  it('--url-env gives tools that read a URL one with the token and sslmode=verify-full', async () => {
    const { emu, sp } = await principalFor('cli-exec-url')
    await createOwnSchema(emu, sp.roleName!)
    const url = `postgres://${sp.roleName}@localhost:${emu.pg.port}/${emu.pg.database}?sslrootcert=${encodeURIComponent(emu.caPath)}`
    const run = await runCli(
      [
        'exec',
        ...servicePrincipalFlags(emu, sp),
        '--url',
        url,
        '--url-env',
        'DATABASE_URL',
        '--',
        'sh',
        '-c',
        'psql "$DATABASE_URL" -tAc "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()"',
      ],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout.trim()).toMatch(new RegExp(`^${sp.roleName}\\|`))
  })

  it('refuses a weak sslmode and a password in --url before fetching a token', async () => {
    const weak = await runCli([
      'exec',
      '--url',
      'postgres://me@myserver/db?sslmode=require&uselibpqcompat=true',
      '--',
      'true',
    ])
    expect(weak.code).toBe(2)
    expect(weak.stderr).toMatch(/^TLS_REQUIRED: /)
    const withPassword = await runCli(['exec', '--url', 'postgres://me:pw@myserver/db', '--', 'true'])
    expect(withPassword.code).toBe(2)
    expect(withPassword.stderr).toMatch(/^INVALID_OPTION: --url carries a password/)
  })

  it('refuses what libpq would take over the PG* variables it sets: PGSERVICE, names that are connection strings', async () => {
    const { emu, sp } = await principalFor('exec-service')
    const impostor = await startImpostor('decline-tls')
    const dir = mkdtempSync(join(tmpdir(), 'pg-entra-exec-'))
    try {
      // Each of these reaches the impostor without exec's refusals: a service file wins over the environment (an empty
      // PGSERVICE still names its "[]" section), and pgbench reads a database or user name that looks like a
      // connection string as one.
      const plain = `host=127.0.0.1 port=${impostor.port} sslmode=disable`
      writeFileSync(
        join(dir, 'pg_service.conf'),
        `[plain]\n${plain.replaceAll(' ', '\n')}\n[]\n${plain.replaceAll(' ', '\n')}\n`,
      )
      writeFileSync(join(dir, 'one.sql'), 'select 1;\n')
      const role = sp.roleName!
      const routes: [string[], Record<string, string>, RegExp][] = [
        [
          ['--user', role],
          { PGSERVICE: 'plain' },
          /^INVALID_OPTION: PGSERVICE is set: .*\nhint: unset it for this command/s,
        ],
        [['--user', role], { PGSERVICE: '' }, /^INVALID_OPTION: PGSERVICE is set/],
        [
          ['--user', role, '--database', plain],
          {},
          /^INVALID_OPTION: the database name looks like a connection string/,
        ],
        [['--user', `${plain} user=${role}`], {}, /^INVALID_OPTION: the user name looks like a connection string/],
        [
          ['--user', role],
          { PGDATABASE: `postgresql://127.0.0.1:${impostor.port}/x?sslmode=disable` },
          /^INVALID_OPTION: the database name looks like a connection string/,
        ],
      ]
      for (const [flags, env, refusal] of routes) {
        const attempt = await runCli(
          [
            'exec',
            ...servicePrincipalFlags(emu, sp),
            '--host',
            'localhost',
            '--port',
            String(emu.pg.port),
            ...flags,
            '--',
            'pgbench',
            '-n',
            '-t',
            '1',
            '-f',
            join(dir, 'one.sql'),
          ],
          { AZURE_CLIENT_SECRET: sp.secret, PGSERVICEFILE: join(dir, 'pg_service.conf'), ...env },
        )
        expect(impostor.received().toString('latin1'), flags.join(' ')).not.toMatch(jwt)
        expect(attempt.stderr).toMatch(refusal)
        expect(attempt.code).toBe(2)
      }
    } finally {
      await impostor.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
