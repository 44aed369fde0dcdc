// One process of a fleet starting cold, all at once with the others: import pg-entra, open one connection through
// the shared store the orchestrator names (file or Redis), one query, exit. The orchestrator counts token requests
// at the emulator.
import { readConfig } from '../lib/clients.mjs'

const config = readConfig()
const [{ createPool }, { entraAuth, fileCache, redisCache }] = await Promise.all([
  import('pg-entra/pg'),
  import('pg-entra'),
])
let redis
let cache
if (config.store === 'file') cache = fileCache({ dir: config.cacheDir })
if (config.store === 'redis') {
  const { createClient } = await import('redis')
  redis = createClient({ url: config.redisUrl })
  await redis.connect()
  cache = redisCache(redis, { keyPrefix: config.keyPrefix })
}
const auth = entraAuth({
  tenantId: config.tenantId,
  clientId: config.principal.appId,
  clientSecret: config.principal.secret,
  authorityHost: config.authorityHost,
  authorityCa: config.ca,
  cache,
})
const pool = createPool({
  host: config.pg.host,
  port: config.pg.port,
  database: config.pg.database,
  user: config.principal.roleName,
  ssl: { ca: config.ca },
  max: 1,
  entra: auth,
})
await pool.query('select 1')
const { requests } = auth.stats()
await pool.end()
await auth.close()
await redis?.quit()
console.log(JSON.stringify({ requests }))
process.exit(0)
