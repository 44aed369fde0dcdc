// A real PgBouncer (Debian's `pgbouncer`) in transaction mode between the second front and the upstream, like the
// built-in PgBouncer of Azure's Flexible Server on port 6432. The front has already checked the client's Entra
// token; PgBouncer listens only on a private unix socket, trusts it, and finds roles with auth_query.
import { type ChildProcess, spawn } from 'node:child_process'
import { access, chmod, chown, constants, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { EmulatorError } from '../errors.js'
import { postgresUser } from '../upstream/postgres-binaries.js'
import { watchOrphan } from '../upstream/watchdog.js'

export interface PgBouncerOptions {
  /** server connections per (database, role) pair; default 50, Azure's default_pool_size */
  poolSize?: number
  /**
   * Azure's `pgbouncer.ignore_startup_parameters`: startup parameters PgBouncer lets through without tracking them.
   * Empty by default, as on Azure: a client that sends `extra_float_digits` (pgjdbc) or `options` is refused with
   * PgBouncer's "unsupported startup parameter", as there, unless they are listed here.
   */
  ignoreStartupParameters?: string[]
}

export interface PgBouncerHandle {
  /** the directory of PgBouncer's unix socket (`.s.PGSQL.<port>`) */
  socketDir: string
  port: number
  stop(): Promise<void>
}

const SOCKET_PORT = 6432
const START_TIMEOUT_MS = 30_000

/** The pgbouncer binary: on PATH, or in the sbin directories Debian installs it to (not on a user's PATH). */
export async function findPgBouncer(): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin']
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, 'pgbouncer')
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  throw new EmulatorError(
    'PGBOUNCER_NOT_INSTALLED',
    'the PgBouncer port needs the pgbouncer binary, which is not installed',
    "install Debian's package: sudo apt-get install -y pgbouncer (or start without the PgBouncer port)",
  )
}

export async function startPgBouncer(
  upstream: { socketDir: string; port: number; adminUser: string },
  opts: PgBouncerOptions = {},
): Promise<PgBouncerHandle> {
  const invalid = opts.ignoreStartupParameters?.find((name) => !/^[A-Za-z0-9_.]+$/.test(name))
  if (invalid !== undefined) {
    // Azure's allowed values: [A-Za-z0-9_\.,]*; anything else could also write lines into pgbouncer.ini
    throw new EmulatorError(
      'BAD_ARGUMENTS',
      `pgbouncer.ignoreStartupParameters: ${JSON.stringify(invalid)} is not a parameter name`,
      'give names of letters, digits, _ and ., e.g. ["extra_float_digits"]',
    )
  }
  const binary = await findPgBouncer()
  const runAs = await postgresUser() // PgBouncer refuses to run as root
  const dir = await mkdtemp(join(tmpdir(), 'pgbnc-'))
  await chmod(dir, 0o755)
  if (runAs) await chown(dir, runAs.uid, runAs.gid)
  const configPath = join(dir, 'pgbouncer.ini')
  await writeFile(configPath, config(dir, upstream, opts), { mode: 0o644 })
  const lines: string[] = []
  let child: ChildProcess | undefined
  try {
    child = spawn(binary, [configPath], { ...(runAs ?? {}), stdio: ['ignore', 'ignore', 'pipe'] })
    await untilUp(child, lines)
  } catch (e) {
    child?.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
    throw new EmulatorError(
      'PGBOUNCER_FAILED',
      `PgBouncer did not start${lines.length > 0 ? `:\n${lines.slice(-8).join('\n')}` : ''}`,
      'check that the pgbouncer package works: pgbouncer --version',
      { cause: e },
    )
  }
  const running = child
  const stopWithUs = () => running.kill('SIGINT')
  process.once('exit', stopWithUs)
  const watchdog = running.pid === undefined ? undefined : watchOrphan({ pid: running.pid, runDir: dir })
  let stopped: Promise<void> | undefined
  return {
    socketDir: dir,
    port: SOCKET_PORT,
    stop() {
      stopped ??= (async () => {
        process.off('exit', stopWithUs)
        watchdog?.stop()
        if (running.exitCode === null && running.signalCode === null) {
          const exited = new Promise((resolve) => running.once('exit', resolve))
          running.kill('SIGINT') // immediate shutdown
          await exited
        }
        await rm(dir, { recursive: true, force: true })
      })()
      return stopped
    },
  }
}

function config(dir: string, upstream: { socketDir: string; port: number; adminUser: string }, opts: PgBouncerOptions) {
  return [
    '; written by pg-entra-emulator: the front checks Entra tokens, then opens sessions here',
    '[databases]',
    `* = host=${upstream.socketDir} port=${upstream.port}`,
    '[pgbouncer]',
    'listen_addr =',
    `listen_port = ${SOCKET_PORT}`,
    `unix_socket_dir = ${dir}`,
    'unix_socket_mode = 0777',
    'auth_type = trust',
    `auth_user = ${upstream.adminUser}`,
    'auth_query = SELECT rolname, NULL::text FROM pg_catalog.pg_roles WHERE rolname = $1 AND rolcanlogin',
    'pool_mode = transaction',
    `default_pool_size = ${opts.poolSize ?? 50}`,
    'max_client_conn = 5000',
    `ignore_startup_parameters = ${(opts.ignoreStartupParameters ?? []).join(',')}`,
    'logfile =',
    'pidfile =',
    '',
  ].join('\n')
}

function untilUp(child: ChildProcess, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no "process up" line in time')), START_TIMEOUT_MS)
    let partial = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) {
        lines.push(line)
        if (lines.length > 40) lines.shift()
        if (/process up/.test(line)) {
          clearTimeout(timer)
          resolve()
        }
      }
    })
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`pgbouncer exited at start (${signal ?? `code ${code}`})`))
    })
  })
}
