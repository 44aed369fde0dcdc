// Debian's PgBouncer as a reference relay written in C, started for one benchmark with the settings given: what a
// Node relay (the emulator's front, pg-entra proxy) is measured beside. Undefined when pgbouncer is not installed.
import { spawn } from 'node:child_process'
import { accessSync, chmodSync, chownSync, constants, openSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { delimiter, join } from 'node:path'

function binary() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin']
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, 'pgbouncer'), constants.X_OK)
      return join(dir, 'pgbouncer')
    } catch {}
  }
  return undefined
}

/** PgBouncer refuses to run as root: as root, it runs as the postgres user. */
function runAs() {
  if (process.getuid?.() !== 0) return undefined
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('postgres:'))
  if (!entry) return undefined
  const [, , uid, gid] = entry.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

function listening(port) {
  return new Promise((resolve) => {
    const probe = connect(port, '127.0.0.1', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
}

/**
 * Starts PgBouncer on 127.0.0.1:`port` with `settings` (lines of its [pgbouncer] section), `databases` (lines of
 * [databases]) and `users` (role names for its auth_file), its files in `dir`. Resolves once it accepts connections.
 */
export async function startPgBouncer({ dir, port, databases, settings, users }) {
  const path = binary()
  if (!path) return undefined
  const owner = runAs()
  chmodSync(dir, 0o755)
  const files = { ini: join(dir, 'pgbouncer.ini'), users: join(dir, 'pgbouncer-users.txt') }
  writeFileSync(files.users, users.map((user) => `"${user}" ""\n`).join(''), { mode: 0o600 })
  const ini = [
    '[databases]',
    ...databases,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${files.users}`,
    'max_client_conn = 200',
    'ignore_startup_parameters = extra_float_digits',
    'logfile =',
    'pidfile =',
    ...settings,
  ]
  writeFileSync(files.ini, `${ini.join('\n')}\n`, { mode: 0o600 }) // it may hold a server password
  if (owner) for (const file of Object.values(files)) chownSync(file, owner.uid, owner.gid)
  // BENCH_PGBOUNCER_LOG=<file> keeps PgBouncer's log, for when a relay will not connect
  const log = process.env.BENCH_PGBOUNCER_LOG ? openSync(process.env.BENCH_PGBOUNCER_LOG, 'a') : 'ignore'
  const child = spawn(path, [files.ini], { ...(owner ?? {}), stdio: ['ignore', 'ignore', log] })
  const exited = new Promise((resolve) => child.once('exit', () => resolve(true)))
  for (let attempt = 0; attempt < 300; attempt++) {
    if (await listening(port)) {
      return {
        version: await new Promise((resolve) => {
          const v = spawn(path, ['--version'])
          let out = ''
          v.stdout.on('data', (chunk) => {
            out += chunk
          })
          v.on('close', () => resolve(out.trim().split('\n')[0] || 'PgBouncer'))
        }),
        stop: () => {
          child.kill('SIGINT')
          return exited
        },
      }
    }
    if (child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  return undefined
}
