// One member of a fleet: its own pool and its own EntraAuth, with the token store the orchestrator names, running
// light load until the deadline. The orchestrator counts token requests at the emulator.
import { emit, entraOptions, readConfig } from '../lib/clients.mjs'

const config = readConfig()
const { entraAuth, fileCache, redisCache } = await import('pg-entra')
const { createPool } = await import('pg-entra/pg')

let redis
let cache
if (config.store === 'file') cache = fileCache({ dir: config.cacheDir })
if (config.store === 'redis') {
  const { createClient } = await import('redis')
  redis = createClient({ url: config.redisUrl })
  await redis.connect()
  cache = redisCache(redis, { keyPrefix: 'bench' })
}
const auth = entraAuth(entraOptions(config, cache ? { cache } : {}))
const pool = createPool({
  host: config.pg.host,
  port: config.pg.port,
  database: config.pg.database,
  user: config.principal.roleName,
  ssl: { ca: config.ca },
  max: 2,
  maxLifetimeSeconds: 2,
  entra: auth,
})
let queries = 0
let failures = 0
while (Date.now() < config.deadline) {
  try {
    await pool.query('select 1')
    queries++
  } catch {
    failures++
  }
  await new Promise((resolve) => setTimeout(resolve, 100))
}
const stats = auth.stats()
await pool.end()
await auth.close()
await redis?.quit()
emit({ queries, failures, requests: stats.requests, store: config.store })
process.exit(0)
