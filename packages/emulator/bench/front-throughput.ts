// pgbench -S on persistent connections through the front, against the same pgbench straight to the upstream over
// TLS, in one run, for each client count; and, for context, through PgBouncer doing the front's job (TLS from
// pgbench, session mode, the upstream's unix socket): a relay written in C, where it is installed; and through the
// least a relay can do in the front's place, in C (bench/lib/copy-relay.c: TLS from pgbench, bytes copied to the
// upstream's unix socket), where it can be built. Prints [{"clients", "directTps", "frontTps", "pgbouncerTps",
// "copyRelayTps", "ratio"}] (and writes it to the path given as the argument).
// Run: npx tsx packages/emulator/bench/front-throughput.ts [out.json]; BENCH_SECONDS and BENCH_CLIENTS (a
// comma-separated list, default 4,16) tune it.
import { execFile } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
// @ts-expect-error the benchmarks' shared helper is plain JavaScript
import { startCopyRelay } from '../../../bench/lib/copy-relay.mjs'
// @ts-expect-error the benchmarks' shared helper is plain JavaScript
import { startPgBouncer } from '../../../bench/lib/pgbouncer.mjs'
import { startPgFront } from '../src/pg-front/index.js'
import { createCertificateAuthority } from '../src/pki/index.js'
import { startUpstream } from '../src/upstream/index.js'
import { postgresUser } from '../src/upstream/postgres-binaries.js'

const run = promisify(execFile)
const PGBOUNCER_PORT = 16_432

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const clientCounts = (process.env.BENCH_CLIENTS ?? '4,16').split(',').map(Number)

const upstream = await startUpstream({ kind: 'embedded' })
const ca = await createCertificateAuthority()
const certificate = await ca.issueServerCertificate()
const dir = mkdtempSync(join(tmpdir(), 'front-bench-'))
chmodSync(dir, 0o755) // the server may run as the postgres user
let pgbouncer: { version: string; stop(): Promise<unknown> } | undefined
let copyRelay: { port?: number; unavailable?: string; stop?(): Promise<unknown> } | undefined
try {
  // the upstream gets TLS too, so that the baseline pays for encryption as the front's clients do
  const runAs = await postgresUser()
  for (const [name, content, mode] of [
    ['server.crt', certificate.cert, 0o644],
    ['server.key', certificate.key, 0o600],
    ['ca.pem', ca.caPem, 0o644],
  ] as const) {
    writeFileSync(join(dir, name), content, { mode })
    if (runAs) chownSync(join(dir, name), runAs.uid, runAs.gid)
  }
  await upstream.adminQuery(`alter system set ssl_cert_file = '${join(dir, 'server.crt')}'`)
  await upstream.adminQuery(`alter system set ssl_key_file = '${join(dir, 'server.key')}'`)
  await upstream.adminQuery('alter system set ssl = on')
  await upstream.adminQuery('select pg_reload_conf()')
  while ((await upstream.adminQuery(`select current_setting('ssl') as ssl`)).rows[0].ssl !== 'on') {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await upstream.adminQuery(`create role bench login superuser password 'bench-password'`)
  const front = await startPgFront({
    host: '127.0.0.1',
    tls: certificate,
    upstream,
    verifier: { verify: () => Promise.reject(new Error('password roles only')) },
  })
  const env = (port: number) => ({
    ...process.env,
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: 'bench',
    PGPASSWORD: 'bench-password',
    PGDATABASE: 'postgres',
    PGSSLMODE: 'verify-ca',
    PGSSLROOTCERT: join(dir, 'ca.pem'),
  })
  await run('pgbench', ['-i', '-s', '2', '-q'], { env: env(upstream.port) })
  // async, never spawnSync: the front runs in this process's event loop
  const tps = async (port: number, clients: number) => {
    const args = ['-S', '-n', '-c', String(clients), '-j', '2', '-T', String(seconds)]
    const { stdout } = await run('pgbench', args, { env: env(port) })
    return Number(/tps = ([\d.]+)/.exec(stdout)?.[1])
  }
  // PgBouncer as the front's stand-in: TLS to clients with the front's certificate, session mode
  pgbouncer = await startPgBouncer({
    dir,
    port: PGBOUNCER_PORT,
    databases: [`* = host=${upstream.socketDir} port=${upstream.port}`],
    settings: [
      'pool_mode = session',
      'default_pool_size = 40',
      'client_tls_sslmode = require',
      `client_tls_key_file = ${join(dir, 'server.key')}`,
      `client_tls_cert_file = ${join(dir, 'server.crt')}`,
    ],
    users: ['bench'],
  })
  // the front's TLS and hop, with nothing else of its work
  copyRelay = await startCopyRelay({
    dir,
    args: [
      'server',
      join(dir, 'server.crt'),
      join(dir, 'server.key'),
      join(upstream.socketDir, `.s.PGSQL.${upstream.port}`),
    ],
  })
  const results = []
  for (const clients of clientCounts) {
    // direct, the relays, direct: drift on a shared machine moves the baseline on both sides of the others
    const before = await tps(upstream.port, clients)
    const frontTps = await tps(front.port, clients)
    const pgbouncerTps = pgbouncer ? await tps(PGBOUNCER_PORT, clients) : undefined
    const copyRelayTps = copyRelay?.port ? await tps(copyRelay.port, clients) : undefined
    const after = await tps(upstream.port, clients)
    const directTps = (before + after) / 2
    const ratio = Number((frontTps / directTps).toFixed(3))
    results.push({
      clients,
      seconds,
      directTps: Math.round(directTps),
      frontTps: Math.round(frontTps),
      ...(pgbouncerTps === undefined ? {} : { pgbouncerTps: Math.round(pgbouncerTps), pgbouncer: pgbouncer?.version }),
      ...(copyRelayTps === undefined
        ? { copyRelayUnavailable: copyRelay?.unavailable }
        : { copyRelayTps: Math.round(copyRelayTps) }),
      ratio,
    })
  }
  const text = `${JSON.stringify(results)}\n`
  process.stdout.write(text)
  if (process.argv[2]) writeFileSync(process.argv[2], text)
  await front.close()
} finally {
  await pgbouncer?.stop()
  await copyRelay?.stop?.()
  await upstream.stop()
  rmSync(dir, { recursive: true, force: true })
}
