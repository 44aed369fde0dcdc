// Pools under steady load for several token lifetimes, all in this one process and interleaved tick by tick, so
// that a busy machine slows every contender alike: connections retire after `maxLifetimeSeconds`, so new ones open
// throughout. Records how long each acquisition (pool.connect) waited, per pool.
import { createContenderPool, emit, readConfig } from '../lib/clients.mjs'

const config = readConfig()
const pools = await Promise.all(
  config.pools.map(async ({ label, contender, principal }) => ({
    label,
    pool: await createContenderPool(
      contender,
      { ...config, principal },
      { max: config.poolSize, maxLifetimeSeconds: config.maxLifetimeSeconds },
      config.telemetryOff ? { telemetry: false } : {},
    ),
    acquisitions: [],
    /** [ms since the run started, ms waited] of each acquisition over 100 ms. */
    slow: [],
    failures: 0,
  })),
)
const tokenEvents = Object.fromEntries(pools.map(({ label }) => [label, []]))
for (const { label, pool } of pools) {
  pool.entraAuth?.on((event) => {
    if (event.type === 'token') tokenEvents[label].push(Math.round(performance.now() - (runStarted ?? 0)))
  })
}
let runStarted
// Warm: the first token and connection are start-up, not rollover.
await Promise.all(pools.map(({ pool }) => pool.query('select 1')))

runStarted = performance.now()
const deadline = Date.now() + config.durationSeconds * 1000
const interval = 1000 / config.queriesPerSecond
const inFlight = new Set()
function query(entry) {
  const job = (async () => {
    const started = performance.now()
    try {
      const client = await entry.pool.connect()
      const waited = performance.now() - started
      entry.acquisitions.push(waited)
      if (waited > 100) entry.slow.push([Math.round(started - runStarted), Math.round(waited)])
      try {
        await client.query('select 1')
      } finally {
        client.release()
      }
    } catch {
      entry.failures++
    }
  })()
  inFlight.add(job)
  job.finally(() => inFlight.delete(job))
}
let tick = 0
while (Date.now() < deadline) {
  // Each tick serves every pool once, in an order that rotates so that none is always first.
  for (let i = 0; i < pools.length; i++) query(pools[(tick + i) % pools.length])
  tick++
  await new Promise((resolve) => setTimeout(resolve, interval))
}
await Promise.all(inFlight)
// pg-entra's own count of token calls that had to wait for a request in flight (the warm-up's first one excluded).
const waits = Object.fromEntries(pools.map(({ label, pool }) => [label, pool.entraAuth?.stats()]))
await Promise.all(pools.map(({ pool }) => pool.end()))
emit(
  Object.fromEntries(
    pools.map(({ label, acquisitions, slow, failures }) => [
      label,
      {
        acquisitions,
        slow: slow.slice(0, 20),
        tokenEvents: tokenEvents[label],
        failures,
        entraWaits: waits[label] ? waits[label].waits - 1 : undefined,
        tokenRequests: waits[label]?.requests,
      },
    ]),
  ),
)
process.exit(0)
