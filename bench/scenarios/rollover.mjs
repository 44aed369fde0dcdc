// A pool under steady load for several token lifetimes: connections retire after `maxLifetimeSeconds`, so new
// ones open throughout. Records how long each acquisition (pool.connect) waited.
import { createContenderPool, emit, readConfig } from '../lib/clients.mjs'

const config = readConfig()
const pool = await createContenderPool(config.contender, config, {
  max: config.poolSize,
  maxLifetimeSeconds: config.maxLifetimeSeconds,
})
// Warm: the first token and connection are start-up, not rollover.
await pool.query('select 1')
const acquisitions = []
let failures = 0
const deadline = Date.now() + config.durationSeconds * 1000
const interval = 1000 / config.queriesPerSecond
const inFlight = new Set()
while (Date.now() < deadline) {
  const job = (async () => {
    const started = performance.now()
    try {
      const client = await pool.connect()
      acquisitions.push(performance.now() - started)
      try {
        await client.query('select 1')
      } finally {
        client.release()
      }
    } catch {
      failures++
    }
  })()
  inFlight.add(job)
  job.finally(() => inFlight.delete(job))
  await new Promise((resolve) => setTimeout(resolve, interval))
}
await Promise.all(inFlight)
await pool.end()
emit({ acquisitions, failures })
process.exit(0)
