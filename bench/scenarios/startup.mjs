// A whole process: import the client, open one connection, run one query, exit. The orchestrator times the process;
// the process reports where its own time went (ms since the process started, performance.now()).
//   password     pg alone with a password role
//   warm         pg-entra whose shared file store already holds a usable token for its identity
//   cold         pg-entra with an empty file store: imports @azure/identity, fetches metadata and a token
//   credential   pg-entra with a credential the app built itself (the app imports @azure/identity)
import { readConfig } from '../lib/clients.mjs'

const config = readConfig()
const phases = { boot: performance.now() }
const pgFields = {
  host: config.pg.host,
  port: config.pg.port,
  database: config.pg.database,
  ssl: { ca: config.ca },
  max: 1,
}
const entra = {
  tenantId: config.tenantId,
  clientId: config.principal.appId,
  clientSecret: config.principal.secret,
  authorityHost: config.authorityHost,
  authorityCa: config.ca,
}

let pool
if (config.contender === 'password') {
  const { default: pg } = await import('pg')
  phases.imported = performance.now()
  pool = new pg.Pool({ ...pgFields, user: config.passwordRole.name, password: config.passwordRole.password })
} else {
  const [{ createPool }, { entraAuth, fileCache }] = await Promise.all([import('pg-entra/pg'), import('pg-entra')])
  phases.imported = performance.now()
  let options = {
    ...entra,
    cache: fileCache({ dir: config.cacheDir }),
    ...(process.env.BENCH_TELEMETRY_OFF ? { telemetry: false } : {}),
  }
  if (config.contender === 'credential') {
    const { ClientSecretCredential } = await import('@azure/identity')
    phases.identityImported = performance.now()
    const credential = new ClientSecretCredential(entra.tenantId, entra.clientId, entra.clientSecret, {
      authorityHost: entra.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: config.ca },
    })
    options = { credential }
  }
  if (config.contender === 'cold') {
    // pg-entra would import @azure/identity at this very point (its first token request): importing it here first
    // shows that cost apart without changing the total.
    await import('@azure/identity')
    phases.identityImported = performance.now()
  }
  const auth = entraAuth(options)
  await auth.token()
  phases.token = performance.now()
  pool = createPool({ ...pgFields, user: config.principal.roleName, entra: auth })
}
await pool.query('select 1')
phases.queried = performance.now()
await pool.end()
console.log(JSON.stringify({ phases }))
process.exit(0)
