// Pool factories for each contender, all pointed at the same emulator. `config` comes from the orchestrator.
import pg from 'pg'

const SCOPE = 'https://ossrdbms-aad.database.windows.net/.default'

export function entraOptions(config, extra = {}) {
  return {
    tenantId: config.tenantId,
    clientId: config.principal.appId,
    clientSecret: config.principal.secret,
    authorityHost: config.authorityHost,
    authorityCa: config.ca,
    ...extra,
  }
}

async function emulatorCredential(config) {
  const { ClientSecretCredential } = await import('@azure/identity')
  return new ClientSecretCredential(config.tenantId, config.principal.appId, config.principal.secret, {
    authorityHost: config.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: config.ca },
  })
}

const base = (config, poolOptions) => ({
  host: config.pg.host,
  port: config.pg.port,
  database: config.pg.database,
  ssl: { ca: config.ca },
  ...poolOptions,
})

/** One token for the principal, fetched once: a static-token pool's password (it is valid for the whole run). */
export async function fetchTokenOnce(config) {
  const credential = await emulatorCredential(config)
  return (await credential.getToken(SCOPE)).token
}

/** contender: 'pg-entra' | 'anchor' | 'getToken' | 'password' | 'static-token' */
export async function createContenderPool(contender, config, poolOptions = {}, entraExtra = {}) {
  if (contender === 'pg-entra') {
    const [{ createPool }, { entraAuth }] = await Promise.all([import('pg-entra/pg'), import('pg-entra')])
    const auth = entraAuth(entraOptions(config, entraExtra))
    const pool = createPool({ ...base(config, poolOptions), user: config.principal.roleName, entra: auth })
    // The pool borrows the EntraAuth: the scenario reads its stats, and ending the pool closes it.
    pool.entraAuth = auth
    const end = pool.end.bind(pool)
    pool.end = async () => {
      await end()
      await auth.close()
    }
    return pool
  }
  if (contender === 'anchor') {
    // As @azure/postgresql-auth's README shows, with the credential pointed at the emulator.
    const { entraTokenProvider } = await import('@azure/postgresql-auth')
    const credential = await emulatorCredential(config)
    return new pg.Pool({
      ...base(config, poolOptions),
      user: config.principal.roleName,
      password: entraTokenProvider(credential),
    })
  }
  if (contender === 'getToken') {
    const credential = await emulatorCredential(config)
    return new pg.Pool({
      ...base(config, poolOptions),
      user: config.principal.roleName,
      password: async () => (await credential.getToken(SCOPE)).token,
    })
  }
  if (contender === 'static-token') {
    // pg with a token string fetched once, on the same Entra role: what pg-entra costs on top of the bare connect.
    return new pg.Pool({
      ...base(config, poolOptions),
      user: config.principal.roleName,
      password: await fetchTokenOnce(config),
    })
  }
  if (contender === 'password') {
    return new pg.Pool({
      ...base(config, poolOptions),
      user: config.passwordRole.name,
      password: config.passwordRole.password,
    })
  }
  throw new Error(`unknown contender ${contender}`)
}

export function readConfig() {
  return JSON.parse(process.env.BENCH_CONFIG ?? '{}')
}

export function emit(result) {
  console.log(JSON.stringify(result))
}
