// pgbench through `startProxy()` against pgbench straight to the same front with the token given by hand
// (PGPASSWORD), in alternating short runs (median of each: the machine is shared): throughput on persistent
// connections, and the connection rate with -C. For context on persistent connections, PgBouncer doing the proxy's
// job (plain TCP from pgbench, verified TLS to the front, the token as its server password): a relay written in C.
// On both kinds of run, the least a relay can do in the proxy's place, in C (bench/lib/copy-relay.c: plain TCP from
// pgbench, verified TLS to the front, bytes copied; pgbench gives the token itself).
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { entraAuth } from 'pg-entra'
import { startProxy } from 'pg-entra/proxy'
import { emit, entraOptions, readConfig } from '../lib/clients.mjs'
import { startCopyRelay } from '../lib/copy-relay.mjs'
import { startPgBouncer } from '../lib/pgbouncer.mjs'
import { median } from '../lib/stats.mjs'

const run = promisify(execFile)
const config = readConfig()
const role = config.principal.roleName
const dir = mkdtempSync(join(tmpdir(), 'pg-entra-bench-proxy-'))
const script = join(dir, 'select.sql')
writeFileSync(script, 'select 1;\n')

const auth = entraAuth(entraOptions(config))
const proxy = await startProxy({
  server: { host: config.pg.host, port: config.pg.port, ca: config.ca },
  entra: auth,
})
const token = (await auth.token()).token // the token by hand, as PGPASSWORD="$(pg-entra token)" would
const PGBOUNCER_PORT = 16_433
const caFile = join(dir, 'ca.pem') // where the C relays can read it (PgBouncer runs as the postgres user)
writeFileSync(caFile, config.ca, { mode: 0o644 })
const pgbouncer = await startPgBouncer({
  dir,
  port: PGBOUNCER_PORT,
  databases: [`* = host=localhost port=${config.pg.port} user=${role} password=${token}`],
  settings: [
    'pool_mode = session',
    'default_pool_size = 40',
    'server_tls_sslmode = verify-full',
    `server_tls_ca_file = ${caFile}`,
  ],
  users: [role],
})
const copyRelay = await startCopyRelay({
  dir,
  args: ['client', caFile, config.pg.host, String(config.pg.port)],
})

const env = {
  direct: {
    PGHOST: config.pg.host,
    PGPORT: String(config.pg.port),
    PGSSLMODE: 'verify-full',
    PGSSLROOTCERT: config.caPath,
    PGPASSWORD: token,
  },
  copyRelay: { PGHOST: '127.0.0.1', PGPORT: String(copyRelay.port), PGSSLMODE: 'disable', PGPASSWORD: token },
  proxy: { PGHOST: proxy.host, PGPORT: String(proxy.port) },
  pgbouncer: { PGHOST: '127.0.0.1', PGPORT: String(PGBOUNCER_PORT) },
}

async function pgbench(contender, connectEach, clients) {
  const args = ['-n', '-c', String(clients), '-j', '2', '-T', String(config.seconds), '-f', script]
  if (connectEach) args.push('-C')
  const { stdout } = await run('pgbench', args, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PGUSER: role,
      PGDATABASE: config.pg.database,
      ...env[contender],
    },
  })
  const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0)
  const processed = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1])
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1])
  if (!Number.isFinite(tps) || !Number.isFinite(processed)) throw new Error(`pgbench printed no tps:\n${stdout}`)
  return { tps, processed, failed }
}

const result = {}
try {
  // Persistent connections at two concurrencies: with few clients each transaction waits on the extra hop, with many
  // the hop's cost is spread (and the proxy, not pgbench, does the TLS).
  for (const [mode, connectEach, clients] of [
    ['persistent', false, config.clients],
    ['persistentMany', false, config.manyClients],
    ['connect', true, config.clients],
  ]) {
    const contenders = ['direct', 'proxy', 'pgbouncer', 'copyRelay']
    const totals = Object.fromEntries(contenders.map((contender) => [contender, { tps: [], failed: 0 }]))
    // For context: the copy relay measures what the hop itself costs, with -C too (a verified TLS handshake per
    // connection, in C). PgBouncer on persistent connections only: it keeps its server connections, so with -C it
    // would measure its own accept, not a login.
    const others = ['proxy']
    if (!connectEach && pgbouncer) others.push('pgbouncer')
    if (copyRelay.port) others.push('copyRelay')
    for (let round = 0; round < config.rounds; round++) {
      for (const contender of round % 2 === 0 ? ['direct', ...others] : [...others, 'direct']) {
        const r = await pgbench(contender, connectEach, clients)
        totals[contender].tps.push(r.tps)
        totals[contender].failed += r.failed
      }
    }
    result[mode] = {
      direct: median(totals.direct.tps),
      proxy: median(totals.proxy.tps),
      ...(others.includes('pgbouncer')
        ? { pgbouncer: median(totals.pgbouncer.tps), pgbouncerVersion: pgbouncer.version }
        : {}),
      ...(others.includes('copyRelay') ? { copyRelay: median(totals.copyRelay.tps) } : {}),
      failed: contenders.reduce((sum, contender) => sum + totals[contender].failed, 0),
    }
  }
} finally {
  await pgbouncer?.stop()
  await copyRelay.stop?.()
  await proxy.close({ graceMs: 1000 })
  await auth.close()
  rmSync(dir, { recursive: true, force: true })
}
emit({ ...result, copyRelayUnavailable: copyRelay.unavailable })
process.exit(0)
