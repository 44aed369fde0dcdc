// pg-entra/typeorm: TypeORM (postgres driver, on pg) with an Entra token as the password.
// TypeORM types `password` as a function and pg calls it for every new connection. The trap: TypeORM hands its `url`
// to pg as `connectionString`, and pg then drops a password function for the URL's (empty) password. So the URL is
// parsed here into discrete fields, for the data source and for each replica. TypeORM also switches to pg-native
// when it is installed, which cannot take a password function: pg is given as the driver without it, and with a Pool
// that retries a refused login once and closes an EntraAuth made here when `DataSource.destroy()` has ended every
// pool. TypeORM merges `extra` over its pg options (ssl included): the token still goes only over verified TLS, since
// the password function checks the socket. Connection lifetime: pg's `maxLifetimeSeconds`, given through `extra`.
import pg from 'pg'
import type { DataSourceOptions } from 'typeorm'
import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'
import { parseConnectionString } from '../config/connection-string.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import type { AuthHandle } from '../kernel/auth-handle.js'
import { sharedBy } from '../kernel/auth-handle.js'
import type { PreparedConnection } from '../kernel/connection.js'
import { type EntraClientConfig, preparePgConfig, withEntra } from './pg.js'

export type TypeOrmPostgresOptions = Extract<DataSourceOptions, { type: 'postgres' }>
type Credentials = NonNullable<TypeOrmPostgresOptions['replication']>['master']

export type TypeOrmEntraOptions = TypeOrmPostgresOptions & {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraAuthOptions | EntraAuth
  password?: never
}

/**
 * TypeORM data source options with Entra: `new DataSource(await typeormOptions({ type: 'postgres', entra: {}, ... }))`.
 * For the data source and each replica: `url` (or PG*) parsed into host, port, database and username, the user
 * derived from the token when none is named, `password` the token function, `ssl` verified.
 */
export async function typeormOptions(options: TypeOrmEntraOptions): Promise<TypeOrmPostgresOptions> {
  const { entra, ...rest } = options
  if (rest.type !== 'postgres') {
    throw new PgEntraError('INVALID_OPTION', `pg-entra/typeorm works with type "postgres", not "${String(rest.type)}"`)
  }
  const main = await credentialsWithEntra(rest, entra)
  const auth = main.handle.auth
  const replication = rest.replication && {
    ...rest.replication,
    master: (await credentialsWithEntra(rest.replication.master, auth)).credentials,
    slaves: await Promise.all(
      rest.replication.slaves.map(async (slave) => (await credentialsWithEntra(slave, auth)).credentials),
    ),
  }
  const { url: _url, ...withoutUrl } = rest
  return {
    ...withoutUrl,
    ...main.credentials,
    ...(replication ? { replication } : {}),
    driver: rest.driver ?? pgForTypeorm(main.prepared, main.handle),
  } as TypeOrmPostgresOptions
}

/**
 * pg as TypeORM's driver: without `pg.native` (TypeORM switches to pg-native whenever that package is installed, and
 * pg-native turns a password function into text), and with a Pool that has Entra's connect and end. The data source
 * and each replica get a pool of their own: the EntraAuth is released once all of them have ended.
 */
function pgForTypeorm(prepared: PreparedConnection, handle: AuthHandle): typeof pg {
  const shares = sharedBy(handle)
  class EntraPool extends pg.Pool {
    constructor(config?: pg.PoolConfig) {
      super(config)
      withEntra(this, prepared, shares.take())
    }
  }
  return Object.create(pg, {
    native: { value: null, enumerable: false },
    Pool: { value: EntraPool, enumerable: true },
  }) as typeof pg
}

async function credentialsWithEntra(credentials: Credentials, entra: EntraAuthOptions | EntraAuth) {
  if (credentials.password !== undefined) {
    throw new PgEntraError('INVALID_OPTION', 'password is given together with entra', {
      hint: 'with entra the token is the password: remove password',
      details: { option: 'password' },
    })
  }
  const config: EntraClientConfig = { entra }
  if (credentials.url !== undefined) config.connectionString = credentials.url
  if (credentials.host !== undefined) config.host = credentials.host
  if (credentials.port !== undefined) config.port = credentials.port
  if (credentials.database !== undefined) config.database = credentials.database
  if (credentials.username !== undefined) config.user = credentials.username
  if (credentials.ssl !== undefined) config.ssl = credentials.ssl as EntraClientConfig['ssl']
  // TypeORM lets the URL win over the fields (DriverUtils.buildDriverOptions); pg-entra/pg lets the fields win.
  // Keep TypeORM's meaning: drop the fields the URL names.
  if (credentials.url !== undefined) {
    const named = parseConnectionString(credentials.url)
    for (const key of ['host', 'port', 'database', 'user'] as const) if (named[key] !== undefined) delete config[key]
  }
  const { config: resolved, handle, prepared } = await preparePgConfig(config)
  const { url: _url, ...rest } = credentials
  return {
    handle,
    prepared,
    credentials: {
      ...rest,
      host: resolved.host,
      port: resolved.port,
      database: resolved.database,
      username: resolved.user,
      password: resolved.password,
      ssl: resolved.ssl as Credentials['ssl'],
      ...(resolved.application_name ? { applicationName: resolved.application_name } : {}),
    } satisfies Credentials,
  }
}
