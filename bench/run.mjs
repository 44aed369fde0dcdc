// npm run bench: every scenario against baselines measured in the same run, on one pg-entra-emulator.
// Prints a table and writes bench/results.json. Timing is only ever compared within this run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { guardPath, runMany, runScenario } from './lib/child.mjs'
import { redisAvailable, startRedis } from './lib/redis.mjs'
import { median, percentile, round } from './lib/stats.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
require(guardPath) // the emulator runs in this process: nothing of it may leave the machine either

const ANCHOR = `@azure/postgresql-auth ${require('@azure/postgresql-auth/package.json').version}`
const only = process.argv.slice(2)
const quick = process.env.BENCH_QUICK === '1'
const work = mkdtempSync(join(tmpdir(), 'pg-entra-bench-'))
const guardLog = join(work, 'guard.log')
process.env.LOOPBACK_GUARD_LOG = guardLog
const rows = []
const notes = []
const log = (line) => process.stderr.write(`${line}\n`)

const { startEmulator } = await import('pg-entra-emulator')
log('starting pg-entra-emulator (embedded PostgreSQL)...')
const emulator = await startEmulator({ upstream: { kind: 'embedded', maxConnections: 400 } })
const passwordRole = { name: 'bench_password_role', password: `pw-${Date.now().toString(36)}` }
await emulator.createPasswordRole(passwordRole.name, passwordRole.password)

let principalSequence = 0
async function principal(label, knobs = {}) {
  const p = await emulator.addPrincipal({ kind: 'servicePrincipal', name: `bench-${label}-${++principalSequence}` })
  if (Object.keys(knobs).length) await emulator.knobs.set({ principals: { [p.name]: knobs } })
  return { name: p.name, appId: p.appId, secret: p.secret, roleName: p.roleName }
}

function configFor(p, extra = {}) {
  return {
    tenantId: emulator.tenantId,
    authorityHost: emulator.authorityHost,
    ca: emulator.ca,
    pg: { host: emulator.pg.host, port: emulator.pg.port, database: emulator.pg.database },
    principal: p,
    passwordRole,
    ...extra,
  }
}

async function tokenRequests(name) {
  const counters = await emulator.counters()
  return counters.tokenRequests.byPrincipal[name]?.requests ?? 0
}

function addRow(row) {
  const ratio = row.baseline === 0 ? null : round(row.pg_entra / row.baseline, 3)
  rows.push({ ...row, ratio })
}

const scenarios = {
  async storm() {
    const connections = 200
    for (const latencyMs of [0, 200]) {
      const counts = {}
      for (const contender of ['pg-entra', 'anchor', 'getToken']) {
        const p = await principal(`storm-${contender}`, { latencyMs })
        await runScenario('storm.mjs', configFor(p, { contender, connections }))
        counts[contender] = await tokenRequests(p.name)
      }
      addRow({
        scenario: 'storm',
        metric: `token requests, ${connections} concurrent first connects, Entra latency ${latencyMs} ms`,
        unit: 'requests',
        pg_entra: counts['pg-entra'],
        baseline: counts.getToken,
        baseline_name: 'credential.getToken per connection',
        anchor: counts.anchor,
        anchor_name: ANCHOR,
      })
    }
  },

  async churn() {
    const p = await principal('churn')
    const result = await runScenario(
      'churn.mjs',
      configFor(p, { contenders: ['pg-entra', 'password'], count: quick ? 200 : 1000, blocks: 10 }),
    )
    addRow({
      scenario: 'churn',
      metric: `sequential connect + query + close through the front (${result['pg-entra'].connections} each)`,
      unit: 'connections/s',
      pg_entra: round(result['pg-entra'].perSecond, 1),
      baseline: round(result.password.perSecond, 1),
      baseline_name: 'password role through the same front',
    })
  },

  async rollover() {
    const lifetime = quick ? 10 : 20
    const durationSeconds = quick ? 25 : 3 * lifetime + 5
    const run = async (contender, latencyMs) => {
      const p = await principal(`rollover-${contender}-${latencyMs}`, { tokenLifetimeSeconds: lifetime, latencyMs })
      const settings = { contender, poolSize: 10, maxLifetimeSeconds: 3, queriesPerSecond: 40, durationSeconds }
      return runScenario('rollover.mjs', configFor(p, settings))
    }
    log(`rollover: three pools for ${durationSeconds} s, tokens of ${lifetime} s...`)
    const [slow, anchor, fast] = await Promise.all([run('pg-entra', 1000), run('anchor', 1000), run('pg-entra', 0)])
    for (const [label, r] of [
      ['pg-entra, 1 s latency', slow],
      ['anchor, 1 s latency', anchor],
      ['pg-entra, no latency', fast],
    ]) {
      if (r.failures) notes.push(`rollover: ${label} had ${r.failures} failed queries`)
    }
    for (const p of [50, 99]) {
      addRow({
        scenario: 'rollover',
        metric: `p${p} connection acquisition, pool under load, ${lifetime} s tokens, 1 s Entra latency`,
        unit: 'ms',
        pg_entra: round(percentile(slow.acquisitions, p), 2),
        baseline: round(percentile(fast.acquisitions, p), 2),
        baseline_name: 'pg-entra with no Entra latency',
        anchor: round(percentile(anchor.acquisitions, p), 2),
        anchor_name: ANCHOR,
      })
    }
  },

  async fleet() {
    const lifetime = quick ? 10 : 20
    const lifetimes = 2
    const members = 8
    const stores = ['memory', 'file']
    let redis
    if (redisAvailable()) {
      redis = await startRedis()
      stores.push('redis')
    } else
      notes.push(
        'fleet: redis-server is not installed, so the Redis store was not measured (apt-get install redis-server)',
      )
    log(
      `fleet: ${members} processes per store (${stores.join(', ')}) for ${lifetimes} token lifetimes of ${lifetime} s...`,
    )
    const perStore = {}
    try {
      await Promise.all(
        stores.map(async (store) => {
          const p = await principal(`fleet-${store}`, { tokenLifetimeSeconds: lifetime })
          const deadline = Date.now() + lifetimes * lifetime * 1000 + 1500
          const cacheDir = mkdtempSync(join(work, `fleet-${store}-`))
          const configs = Array.from({ length: members }, () =>
            configFor(p, { store, deadline, cacheDir, redisUrl: redis?.url }),
          )
          const results = await runMany('fleet.mjs', configs)
          const failures = results.reduce((sum, r) => sum + r.failures, 0)
          if (failures) notes.push(`fleet: ${store} store had ${failures} failed queries`)
          perStore[store] = { total: await tokenRequests(p.name), perProcess: results.map((r) => r.requests) }
        }),
      )
    } finally {
      redis?.stop()
    }
    // A refresh round: what one process on its own fetches in the run (first token, then each refresh).
    const rounds = median(perStore.memory.perProcess)
    for (const store of stores.filter((s) => s !== 'memory')) {
      addRow({
        scenario: 'fleet',
        metric: `token requests per refresh round, ${members} processes, ${lifetimes} lifetimes of ${lifetime} s, ${store} store`,
        unit: 'requests/round',
        pg_entra: round(perStore[store].total / rounds, 2),
        baseline: round(perStore.memory.total / rounds, 2),
        baseline_name: 'memory store (each process on its own)',
      })
    }
  },

  async proxy() {
    const p = await principal('proxy')
    const settings = {
      caPath: emulator.caPath,
      clients: 4,
      manyClients: 16,
      seconds: quick ? 2 : 3,
      rounds: quick ? 2 : 4,
    }
    const r = await runScenario('proxy.mjs', configFor(p, settings))
    if (r.persistent.failed || r.persistentMany.failed || r.connect.failed)
      notes.push('proxy: pgbench had failed transactions')
    const runs = `median of ${settings.rounds} alternating runs of ${settings.seconds} s`
    for (const [mode, metric, unit] of [
      [
        'persistent',
        `pgbench through pg-entra proxy, ${settings.clients} persistent connections (${runs})`,
        'transactions/s',
      ],
      [
        'persistentMany',
        `pgbench through pg-entra proxy, ${settings.manyClients} persistent connections (${runs})`,
        'transactions/s',
      ],
      [
        'connect',
        `pgbench -C through pg-entra proxy, a new connection per transaction, ${settings.clients} clients (${runs})`,
        'connections/s',
      ],
    ]) {
      const baseline_name = 'pgbench straight to the front, token by hand (PGPASSWORD)'
      addRow({
        scenario: 'proxy',
        metric,
        unit,
        pg_entra: round(r[mode].proxy, 1),
        baseline: round(r[mode].direct, 1),
        baseline_name,
      })
    }
  },

  async startup() {
    const runs = quick ? 3 : 7
    const times = { 'pg-entra': [], password: [] }
    for (let i = 0; i < runs; i++) {
      for (const contender of i % 2 ? ['password', 'pg-entra'] : ['pg-entra', 'password']) {
        const p = await principal(`startup-${i}`)
        const config = configFor(p, { contender })
        const started = performance.now()
        await runScenario('startup.mjs', config)
        times[contender].push(performance.now() - started)
      }
    }
    addRow({
      scenario: 'start-up',
      metric: `whole process: import, first connection, one query (median of ${runs})`,
      unit: 'ms',
      pg_entra: round(median(times['pg-entra']), 1),
      baseline: round(median(times.password), 1),
      baseline_name: 'pg alone with a password',
    })
  },
}

try {
  for (const [name, scenario] of Object.entries(scenarios)) {
    if (only.length && !only.includes(name)) continue
    const started = Date.now()
    log(`scenario ${name}...`)
    await scenario()
    log(`scenario ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
} finally {
  await emulator.stop()
}

let violations = ''
try {
  violations = readFileSync(guardLog, 'utf8')
} catch {}
rmSync(work, { recursive: true, force: true })
if (violations.trim()) {
  console.error(`a benchmark process attempted non-loopback traffic:\n${violations}`)
  process.exit(1)
}

if (!only.length) writeFileSync(join(here, 'results.json'), `${JSON.stringify(rows, null, 2)}\n`)
printTable(rows)
for (const note of notes) console.log(`note: ${note}`)

function printTable(table) {
  const header = ['scenario', 'metric', 'unit', 'pg-entra', 'baseline', 'ratio', 'anchor']
  const lines = table.map((r) => [
    r.scenario,
    r.metric,
    r.unit,
    String(r.pg_entra),
    `${r.baseline} (${r.baseline_name})`,
    String(r.ratio),
    r.anchor === undefined ? '' : String(r.anchor),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const fmt = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  console.log(fmt(header))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const line of lines) console.log(fmt(line))
}
