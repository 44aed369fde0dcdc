// npm run bench: every scenario against baselines measured in the same run, on one pg-entra-emulator.
// Prints a table and writes bench/results.json. Timing is only ever compared within this run.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { guardPath, runMany, runScenario } from './lib/child.mjs'
import { redisAvailable, startRedis } from './lib/redis.mjs'
import { median, pairedRateRatio, percentile, round, summarize } from './lib/stats.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
require(guardPath) // the emulator runs in this process: nothing of it may leave the machine either

/** The measuring stick for the relays: bench/lib/copy-relay.c. */
const COPY_RELAY =
  'the least a relay can do in its place, in C (the TLS its job needs, then one read and one write per message)'
const ANCHOR = `@azure/postgresql-auth ${require('@azure/postgresql-auth/package.json').version}`
const only = process.argv.slice(2)
const quick = process.env.BENCH_QUICK === '1'
/** Each scenario runs this many times; rows give the median and the spread. */
const RUNS = Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3))
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

/** A row from a single measurement (scenarios that do not repeat; scenario files registered below may use it). */
function addRow(row) {
  const ratio = row.baseline === 0 ? null : round(row.pg_entra / row.baseline, 3)
  rows.push({ ...row, ratio })
}

/** Runs a scenario's measurement RUNS times, one after the other. */
async function repeat(label, measure) {
  const results = []
  for (let run = 1; run <= RUNS; run++) {
    if (RUNS > 1) log(`${label}: run ${run} of ${RUNS}`)
    results.push(await measure(run))
  }
  return results
}

/**
 * A row from repeated runs, each `{ pg_entra, baseline, anchor?, ratio? }`: the medians, the ratio's median over the
 * runs (a ratio is only ever taken within one run: `ratio` when the run measured it in pairs, else pg_entra / baseline),
 * and `spread` [min, max] of each across the runs.
 */
function addRepeatedRow(row, runs, digits = 2) {
  const ratios = runs.map((r) => r.ratio ?? (r.baseline === 0 ? Number.NaN : r.pg_entra / r.baseline))
  const pick = (key) => summarize(runs.map((r) => r[key]))
  const pgEntra = pick('pg_entra')
  const baseline = pick('baseline')
  const ratio = summarize(ratios)
  const spread = { pg_entra: pgEntra.spread, baseline: baseline.spread }
  const out = {
    ...row,
    pg_entra: round(pgEntra.median, digits),
    baseline: round(baseline.median, digits),
    ratio: ratio.median === null ? null : round(ratio.median, 3),
  }
  if (runs.some((r) => r.anchor !== undefined)) {
    const anchor = pick('anchor')
    out.anchor = round(anchor.median, digits)
    spread.anchor = anchor.spread
  }
  for (const key of Object.keys(spread)) spread[key] = spread[key]?.map((v) => round(v, digits))
  spread.ratio = ratio.spread?.map((v) => round(v, 3)) ?? null
  rows.push({ ...out, runs: runs.length, spread })
}

const over = (values, ms) => values.filter((value) => value > ms).length

const scenarios = {
  async storm() {
    const connections = 200
    for (const latencyMs of [0, 200]) {
      const runs = await repeat(`storm ${latencyMs} ms`, async () => {
        const counts = {}
        for (const contender of ['pg-entra', 'anchor', 'getToken']) {
          const p = await principal(`storm-${contender}`, { latencyMs })
          await runScenario('storm.mjs', configFor(p, { contender, connections }))
          counts[contender] = await tokenRequests(p.name)
        }
        return { pg_entra: counts['pg-entra'], baseline: counts.getToken, anchor: counts.anchor }
      })
      addRepeatedRow(
        {
          scenario: 'storm',
          metric: `token requests, ${connections} concurrent first connects, Entra latency ${latencyMs} ms`,
          unit: 'requests',
          baseline_name: 'credential.getToken per connection',
          anchor_name: ANCHOR,
        },
        runs,
      )
    }
  },

  async churn() {
    const count = quick ? 200 : 1000
    const runs = await repeat('churn', async () => {
      const p = await principal('churn')
      return runScenario(
        'churn.mjs',
        // Blocks of 10 connections, each contender in turn: drift on a shared machine hits all of them alike.
        configFor(p, { contenders: ['pg-entra', 'static-token', 'password'], count, blocks: count / 10 }),
      )
    })
    const metric = `sequential connect + query + close through the front (${count} each, interleaved blocks of 10; rate: the median block; ratio: the median round)`
    addRepeatedRow(
      {
        scenario: 'churn',
        metric: `${metric}: pg-entra's own cost`,
        unit: 'connections/s',
        baseline_name: 'pg with a token string fetched once, same Entra role',
      },
      runs.map((r) => ({
        pg_entra: r['pg-entra'].perSecond,
        baseline: r['static-token'].perSecond,
        ratio: pairedRateRatio(r['pg-entra'].blockMs, r['static-token'].blockMs),
      })),
      1,
    )
    addRepeatedRow(
      {
        scenario: 'churn',
        metric: `${metric}: against SCRAM, for context`,
        unit: 'connections/s',
        baseline_name: 'password role (SCRAM) through the same front',
      },
      runs.map((r) => ({
        pg_entra: r['pg-entra'].perSecond,
        baseline: r.password.perSecond,
        ratio: pairedRateRatio(r['pg-entra'].blockMs, r.password.blockMs),
      })),
      1,
    )
  },

  async rollover() {
    const lifetime = 10
    const lifetimes = quick ? 2 : 4
    const durationSeconds = lifetimes * lifetime
    log(`rollover: three pools interleaved in one process for ${durationSeconds} s, tokens of ${lifetime} s...`)
    const runs = await repeat('rollover', async () => {
      const pools = []
      for (const [label, contender, latencyMs] of [
        ['slow', 'pg-entra', 1000],
        ['anchor', 'anchor', 1000],
        ['fast', 'pg-entra', 0],
      ]) {
        pools.push({
          label,
          contender,
          principal: await principal(`rollover-${label}`, { tokenLifetimeSeconds: lifetime, latencyMs }),
        })
      }
      const settings = { pools, poolSize: 10, maxLifetimeSeconds: 3, queriesPerSecond: 40, durationSeconds }
      const result = await runScenario('rollover.mjs', configFor(pools[0].principal, settings))
      for (const label of ['slow', 'anchor', 'fast']) {
        if (result[label].failures) notes.push(`rollover: ${label} had ${result[label].failures} failed queries`)
      }
      if (result.slow.slow.length)
        notes.push(
          `rollover: pg-entra's acquisitions over 100 ms [ms into the run, ms waited]: ${JSON.stringify(result.slow.slow)}; its tokens arrived at ${JSON.stringify(result.slow.tokenEvents)} ms; the no-latency pool's acquisitions over 100 ms: ${JSON.stringify(result.fast.slow)}`,
        )
      return result
    })
    const base = { scenario: 'rollover', baseline_name: 'pg-entra with no Entra latency', anchor_name: ANCHOR }
    const setting = `pool of 10 at 40 queries/s, ${lifetimes} lifetimes of ${lifetime} s tokens, 1 s Entra latency`
    addRepeatedRow(
      { ...base, metric: `connection acquisitions that waited over 100 ms, ${setting}`, unit: 'acquisitions' },
      runs.map((r) => ({
        pg_entra: over(r.slow.acquisitions, 100),
        baseline: over(r.fast.acquisitions, 100),
        anchor: over(r.anchor.acquisitions, 100),
      })),
      0,
    )
    addRepeatedRow(
      { ...base, metric: `p99 connection acquisition, ${setting}`, unit: 'ms' },
      runs.map((r) => ({
        pg_entra: percentile(r.slow.acquisitions, 99),
        baseline: percentile(r.fast.acquisitions, 99),
        anchor: percentile(r.anchor.acquisitions, 99),
      })),
    )
    addRepeatedRow(
      {
        ...base,
        metric: `connects that waited for a token request in flight (pg-entra's own count), ${setting}`,
        unit: 'connects',
        anchor_name: undefined,
      },
      runs.map((r) => ({ pg_entra: r.slow.entraWaits, baseline: r.fast.entraWaits })),
      0,
    )
    const refreshes = runs.map((r) => r.slow.tokenRequests)
    notes.push(`rollover: pg-entra at 1 s latency made ${refreshes.join(', ')} token requests (by run)`)
    const acquisitions = runs.map((r) => r.slow.acquisitions.length)
    notes.push(`rollover: ${summarize(acquisitions).median} acquisitions per pool per run (median of ${runs.length})`)
  },

  async fleet() {
    const lifetime = 10
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
    let runs
    try {
      runs = await repeat('fleet', async (run) => {
        const perStore = {}
        await Promise.all(
          stores.map(async (store) => {
            const p = await principal(`fleet-${store}`, { tokenLifetimeSeconds: lifetime })
            const deadline = Date.now() + lifetimes * lifetime * 1000 + 1500
            const cacheDir = mkdtempSync(join(work, `fleet-${store}-`))
            const configs = Array.from({ length: members }, () =>
              configFor(p, { store, deadline, cacheDir, redisUrl: redis?.url, keyPrefix: `fleet-${run}` }),
            )
            const results = await runMany('fleet.mjs', configs)
            const failures = results.reduce((sum, r) => sum + r.failures, 0)
            if (failures) notes.push(`fleet: ${store} store had ${failures} failed queries`)
            perStore[store] = { total: await tokenRequests(p.name), perProcess: results.map((r) => r.requests) }
          }),
        )
        return perStore
      })
    } finally {
      redis?.stop()
    }
    for (const store of stores.filter((s) => s !== 'memory')) {
      addRepeatedRow(
        {
          scenario: 'fleet',
          metric: `token requests per refresh round, ${members} processes, ${lifetimes} lifetimes of ${lifetime} s, ${store} store`,
          unit: 'requests/round',
          baseline_name: 'memory store (each process on its own)',
        },
        // A refresh round: what one process on its own fetches in the run (first token, then each refresh).
        runs.map((perStore) => {
          const rounds = median(perStore.memory.perProcess)
          return { pg_entra: perStore[store].total / rounds, baseline: perStore.memory.total / rounds }
        }),
      )
    }
  },

  async 'fleet-start'() {
    const members = 16
    const stores = ['file']
    let redis
    if (redisAvailable()) {
      redis = await startRedis()
      stores.push('redis')
    } else notes.push('fleet-start: redis-server is not installed, so the Redis store was not measured')
    log(`fleet-start: ${members} processes starting at once on an empty shared store (${stores.join(', ')})...`)
    try {
      for (const store of stores) {
        const runs = await repeat(`fleet-start ${store}`, async (run) => {
          const p = await principal(`fleet-start-${store}`)
          const cacheDir = mkdtempSync(join(work, `fleet-start-${store}-`))
          const settings = { store, cacheDir, redisUrl: redis?.url, keyPrefix: `fleet-start-${run}` }
          const results = await runMany(
            'fleet-start.mjs',
            Array.from({ length: members }, () => configFor(p, settings)),
          )
          const perProcess = results.reduce((sum, r) => sum + r.requests, 0)
          if (perProcess !== (await tokenRequests(p.name)))
            notes.push(`fleet-start: ${store} processes counted ${perProcess} requests, the emulator another number`)
          return { pg_entra: await tokenRequests(p.name), baseline: members }
        })
        addRepeatedRow(
          {
            scenario: 'fleet-start',
            metric: `token requests, ${members} processes starting at once on an empty ${store} store`,
            unit: 'requests',
            baseline_name: 'one per process (no shared store)',
          },
          runs,
          0,
        )
      }
    } finally {
      redis?.stop()
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
      if (r[mode].pgbouncer !== undefined) {
        addRow({
          scenario: 'proxy',
          metric: `${metric}: the proxy against a relay written in C doing its job (plain TCP from pgbench, verified TLS to the front, the token as its password)`,
          unit,
          pg_entra: round(r[mode].proxy, 1),
          baseline: round(r[mode].pgbouncer, 1),
          baseline_name: `${r[mode].pgbouncerVersion} between pgbench and the same front, at ${round(r[mode].pgbouncer / r[mode].direct, 2)} of direct`,
        })
      }
      if (r[mode].copyRelay !== undefined) {
        addRow({
          scenario: 'proxy',
          metric: `${metric}: the proxy against ${COPY_RELAY}: plain TCP from pgbench, verified TLS to the front`,
          unit,
          pg_entra: round(r[mode].proxy, 1),
          baseline: round(r[mode].copyRelay, 1),
          baseline_name: `the copy relay, at ${round(r[mode].copyRelay / r[mode].direct, 2)} of direct`,
        })
      }
    }
    if (r.copyRelayUnavailable) notes.push(`proxy: ${r.copyRelayUnavailable}`)
  },

  async startup() {
    const perRun = quick ? 3 : 5
    const contenders = ['password', 'warm', 'cold', 'credential']
    const p = await principal('startup')
    // The warm store: filled once by a cold start, then only read.
    const warmDir = mkdtempSync(join(work, 'startup-warm-'))
    await runScenario('startup.mjs', configFor(p, { contender: 'cold', cacheDir: warmDir }))
    const phases = { cold: [], warm: [] }
    const runs = await repeat('start-up', async () => {
      const times = Object.fromEntries(contenders.map((c) => [c, []]))
      for (let i = 0; i < perRun; i++) {
        // Rotate the order so that no contender always runs first after a pause.
        for (let k = 0; k < contenders.length; k++) {
          const contender = contenders[(i + k) % contenders.length]
          const cacheDir = contender === 'warm' ? warmDir : mkdtempSync(join(work, 'startup-'))
          const started = performance.now()
          const result = await runScenario('startup.mjs', configFor(p, { contender, cacheDir }))
          times[contender].push(performance.now() - started)
          if (phases[contender]) phases[contender].push(result.phases)
        }
      }
      return Object.fromEntries(contenders.map((c) => [c, median(times[c])]))
    })
    const base = { scenario: 'start-up', unit: 'ms', baseline_name: 'pg alone with a password' }
    const whole = `whole process: import, first connection, one query (median of ${perRun} per run)`
    for (const [contender, what] of [
      ['warm', 'a shared file store already holding a token'],
      ['cold', 'an empty shared store (imports @azure/identity, fetches a token)'],
      ['credential', 'a credential the app built (the app imports @azure/identity)'],
    ]) {
      addRepeatedRow(
        { ...base, metric: `${whole}, ${what}` },
        runs.map((r) => ({ pg_entra: r[contender], baseline: r.password })),
        1,
      )
    }
    // Where a cold start's time goes, inside the process (medians, ms since the process started).
    const at = (list, key) => median(list.map((each) => each[key]).filter((v) => v !== undefined))
    const cold = phases.cold
    const breakdown = {
      boot: at(cold, 'boot'),
      importPgEntra: at(cold, 'imported') - at(cold, 'boot'),
      importAzureIdentity: at(cold, 'identityImported') - at(cold, 'imported'),
      firstToken: at(cold, 'token') - at(cold, 'identityImported'),
      connectAndQuery: at(cold, 'queried') - at(cold, 'token'),
    }
    const warm = phases.warm
    const warmBreakdown = {
      boot: at(warm, 'boot'),
      importPgEntra: at(warm, 'imported') - at(warm, 'boot'),
      tokenFromStore: at(warm, 'token') - at(warm, 'imported'),
      connectAndQuery: at(warm, 'queried') - at(warm, 'token'),
    }
    for (const [name, parts] of [
      ['cold', breakdown],
      ['warm', warmBreakdown],
    ]) {
      rows.push({
        scenario: 'start-up',
        metric: `where a ${name} start's time goes, inside the process (medians)`,
        unit: 'ms',
        breakdown: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(v, 1)])),
      })
    }
  },
}

// The front's relay against PostgreSQL's own TLS: pgbench -S on persistent connections, in a process of its own
// (it starts its own upstream with TLS on, which the emulator's public API does not offer).
scenarios.throughput = async () => {
  const script = join(here, '..', 'packages', 'emulator', 'bench', 'front-throughput.ts')
  const { stdout } = await promisify(execFile)(process.execPath, ['--require', guardPath, '--import', 'tsx', script], {
    env: { ...process.env, BENCH_SECONDS: quick ? '4' : '8' },
  })
  const results = JSON.parse(stdout.trim().split('\n').pop())
  const copyRelayUnavailable = results.find((result) => result.copyRelayUnavailable)?.copyRelayUnavailable
  if (copyRelayUnavailable) notes.push(`throughput: ${copyRelayUnavailable}`)
  for (const result of results) {
    const what = `pgbench -S, ${result.clients} persistent connections (${result.seconds} s each)`
    addRow({
      scenario: 'throughput',
      metric: `${what}, through the emulator's front`,
      unit: 'transactions/s',
      pg_entra: result.frontTps,
      baseline: result.directTps,
      baseline_name: 'the same pgbench straight to the upstream over TLS (before and after)',
    })
    if (result.pgbouncerTps !== undefined) {
      addRow({
        scenario: 'throughput',
        metric: `${what}: the front against a relay written in C doing its job (TLS from pgbench, session mode, the upstream's unix socket)`,
        unit: 'transactions/s',
        pg_entra: result.frontTps,
        baseline: result.pgbouncerTps,
        baseline_name: `${result.pgbouncer} between pgbench and the same upstream, at ${round(result.pgbouncerTps / result.directTps, 2)} of direct`,
      })
    }
    if (result.copyRelayTps !== undefined) {
      addRow({
        scenario: 'throughput',
        metric: `${what}: the front against ${COPY_RELAY}: TLS from pgbench, the upstream's unix socket`,
        unit: 'transactions/s',
        pg_entra: result.frontTps,
        baseline: result.copyRelayTps,
        baseline_name: `the copy relay, at ${round(result.copyRelayTps / result.directTps, 2)} of direct`,
      })
    }
  }
}

const benchStarted = Date.now()
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
notes.push(`${RUNS} run(s) of each scenario in ${((Date.now() - benchStarted) / 1000).toFixed(0)} s`)
for (const note of notes) console.log(`note: ${note}`)

function printTable(table) {
  const header = ['scenario', 'metric', 'unit', 'pg-entra', 'baseline', 'ratio', 'anchor']
  const withSpread = (value, spread) => (spread ? `${value} [${spread[0]}–${spread[1]}]` : String(value))
  const lines = table.map((r) =>
    r.breakdown
      ? [
          r.scenario,
          r.metric,
          r.unit,
          Object.entries(r.breakdown)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
          '',
          '',
          '',
        ]
      : [
          r.scenario,
          r.metric,
          r.unit,
          withSpread(r.pg_entra, r.spread?.pg_entra),
          `${withSpread(r.baseline, r.spread?.baseline)} (${r.baseline_name})`,
          withSpread(r.ratio, r.spread?.ratio),
          r.anchor === undefined ? '' : withSpread(r.anchor, r.spread?.anchor),
        ],
  )
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const fmt = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  console.log(fmt(header))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const line of lines) console.log(fmt(line))
}
