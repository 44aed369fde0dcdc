// pg_dump refuses a server of a newer major version than its own: Debian's pg_dump 15 against the emulator's
// embedded PostgreSQL 18 fails. These tests put an emulator of their own in front of the machine's PostgreSQL 15
// (postgresql-15, installed with postgresql-contrib), run as the postgres user since it refuses root.
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmulator } from '../../../emulator/src/index.js'

const bin = '/usr/lib/postgresql/15/bin'

function asPostgres(command: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0
  const run = asRoot
    ? spawnSync('runuser', ['-u', 'postgres', '--', command, ...args], { encoding: 'utf8' })
    : spawnSync(command, args, { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`${command} failed: ${run.stderr || run.stdout || run.error?.message}`)
}

/** A TCP port nothing listens on now (PostgreSQL's socket file is named after it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export async function emulatorOverSystemPostgres() {
  if (!existsSync(join(bin, 'postgres'))) {
    throw new Error(`${bin}/postgres is missing: apt-get install -y postgresql-contrib (PostgreSQL 15 for pg_dump 15)`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'pg-entra-pg15-'))
  chmodSync(dir, 0o755)
  const data = join(dir, 'data')
  const sockets = join(dir, 'sockets')
  const port = await freePort()
  if (process.getuid?.() === 0) {
    chownSync(dir, Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()), 0)
  }
  asPostgres('mkdir', ['-p', sockets])
  asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'])
  // Unix socket only: the emulator's front is the one TCP way in.
  const options = `-c listen_addresses='' -c unix_socket_directories=${sockets} -p ${port} -c max_connections=50`
  asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-w', '-l', join(dir, 'server.log'), 'start'])
  try {
    const emulator = await startEmulator({
      clockSkewSeconds: 2,
      upstream: { kind: 'external', socketDir: sockets, port, adminUser: 'postgres' },
    })
    return {
      emulator,
      async stop() {
        await emulator.stop()
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'])
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'])
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
