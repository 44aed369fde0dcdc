import pg from 'pg'
import { allowsUnverifiedTls, entraAuth, isEntraAuth } from '../auth/entra-auth.js'
import type { EntraAuth, EntraAuthOptions, TokenIdentity } from '../auth/types.js'
import type { ConnectionFields } from '../config/connection-fields.js'
import { parseConnectionString } from '../config/connection-string.js'
import { readPgEnv } from '../config/env.js'
import { pgConfigFields } from '../config/pg-fields.js'
import { isPgEntraError, PgEntraError } from '../errors/pg-entra-error.js'
import { createRoleSql, quoteLiteral } from '../identity/role-statement.js'
import { fingerprint } from '../shared/fingerprint.js'
import { type PgSsl, resolveEntraSsl, tlsFailure } from '../tls/pg-ssl.js'

/** Entra options (a new EntraAuth is made and owned) or an EntraAuth you made (and close yourself). */
export type EntraPgOption = EntraAuthOptions | EntraAuth

export interface EntraClientConfig extends pg.ClientConfig {
  /** Authenticate with Entra tokens; `{}` takes everything from the environment. Absent: plain pg with its password. */
  entra?: EntraPgOption | undefined
}

export interface EntraPoolConfig extends pg.PoolConfig {
  entra?: EntraPgOption | undefined
}

/** The config resolvePgConfig takes: pg's client or pool config plus `entra` (ORM helpers build on it). */
export type EntraPgConfig = EntraPoolConfig

/** A plain pg config: discrete fields (no connectionString), a password function, a user, a verified `ssl`. */
export interface ResolvedPgConfig extends Omit<pg.PoolConfig, 'password' | 'connectionString' | 'user' | 'ssl'> {
  host?: string
  port?: number
  database?: string
  user: string
  password: () => Promise<string>
  ssl: PgSsl
}

const RESOLVED = Symbol.for('pg-entra.pg.resolved')
const AUTH_OF = Symbol.for('pg-entra.pg.auth')

/** What a Client needs besides pg's own config to connect with Entra. */
interface EntraConnection {
  auth: EntraAuth
  /** Whether the Client closes `auth` when it ends (it made it itself). */
  ownsAuth: boolean
  /** undefined: derive it from the token at connect time. */
  user: string | undefined
}

type Env = Readonly<Record<string, string | undefined>>

function defined(fields: ConnectionFields): ConnectionFields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as ConnectionFields
}

/**
 * Resolves an Entra-enabled config without network: PG* variables, then the connection string, then the explicit
 * fields (the most specific wins); TLS checked; the password becomes the EntraAuth's password function.
 */
function prepare(config: EntraClientConfig, env: Env): { pgConfig: pg.ClientConfig; entra: EntraConnection } {
  // The connection keys come back from the resolved fields below (null or '' in config means not given).
  const { entra, connectionString, password, ssl, host, port, database, user, application_name, options, ...rest } =
    config
  if (entra === undefined || entra === null) throw new Error('prepare() needs entra')
  if (password !== undefined && password !== null && password !== '') {
    throw new PgEntraError('INVALID_OPTION', 'password is given together with entra', {
      hint: 'with entra the token is the password: remove password (or remove entra to use the password)',
      details: { option: 'password' },
    })
  }
  const ownsAuth = !isEntraAuth(entra)
  const auth = isEntraAuth(entra) ? entra : entraAuth(entra)
  try {
    const fields: ConnectionFields = {
      ...defined(readPgEnv(env)),
      ...(connectionString ? defined(parseConnectionString(connectionString)) : {}),
      ...pgConfigFields(config),
    }
    delete fields.password // the token is the password; a placeholder in a URL or PGPASSWORD does not apply
    const resolvedSsl = resolveEntraSsl(ssl, fields, allowsUnverifiedTls(auth))
    const pgConfig: pg.ClientConfig = {
      ...rest,
      host: fields.host ?? 'localhost',
      port: fields.port ?? 5432,
      ...(fields.database ? { database: fields.database } : {}),
      ...(fields.user ? { user: fields.user } : {}),
      ...(fields.applicationName ? { application_name: fields.applicationName } : {}),
      ...(fields.options ? { options: fields.options } : {}),
      ...(fields.connectTimeoutSeconds && rest.connectionTimeoutMillis === undefined
        ? { connectionTimeoutMillis: fields.connectTimeoutSeconds * 1000 }
        : {}),
      ssl: resolvedSsl,
      password: auth.password,
    }
    return { pgConfig, entra: { auth, ownsAuth, user: fields.user } }
  } catch (error) {
    if (ownsAuth) void auth.close()
    throw error
  }
}

function isAuthRefusal(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | undefined)?.code
  return code === '28P01' || code === '28000'
}

/** TOKEN_REFUSED for `role`, with the statement that maps the token's principal to it. */
async function tokenRefused(
  error: Error & { code: string },
  role: string,
  token: string,
  auth: EntraAuth,
): Promise<PgEntraError> {
  let identity: TokenIdentity | undefined
  try {
    identity = await auth.identity()
  } catch {
    identity = undefined
  }
  const statement =
    (identity && createRoleSql(identity, role)) ??
    `select * from pgaadauth_create_principal(${quoteLiteral(role)}, false, false);`
  const principal = identity
    ? `${identity.kind}${identity.upn ? ` ${identity.upn}` : ''}${identity.objectId ? ` oid ${identity.objectId}` : ''}`
    : 'unknown'
  return new PgEntraError(
    'TOKEN_REFUSED',
    `the database refused the Entra token for role "${role}" (${error.code}: ${error.message}); token principal: ${principal}`,
    {
      hint:
        `make sure role "${role}" exists and is mapped to this principal: connected to the postgres database as an Entra ` +
        `admin, run ${statement} If it exists, check that the token's tenant and audience are the server's.`,
      cause: error,
      details: {
        role,
        sqlstate: error.code,
        token: fingerprint(token),
        kind: identity?.kind,
        objectId: identity?.objectId,
      },
    },
  )
}

interface PgInternals {
  connectionParameters: {
    user?: string
    password?: unknown
    ssl?: unknown
    sslnegotiation?: string
    client_encoding?: string
  }
  connection: { stream?: { destroy?(): void }; removeAllListeners(): void; on(event: string, fn: () => void): void }
  password: unknown
  _connecting: boolean
  _connected: boolean
  _connectionError: boolean
  _ending: boolean
  _ended: boolean
  _queryable: boolean
}

type ConnectCallback = (err: Error | null, client?: Client) => void

/**
 * A real pg.Client. With `entra`, the password is an Entra token, a missing user is derived from the token, TLS is
 * verified, and a connect the server refuses (28P01/28000) is retried once with a fresh token.
 */
export class Client extends pg.Client {
  readonly #entra: EntraConnection | undefined
  readonly #keepAlive: { keepAlive: boolean; keepAliveInitialDelayMillis: number }

  constructor(config?: string | EntraClientConfig) {
    const carried =
      typeof config === 'object' && config
        ? (config as Record<symbol, EntraConnection | undefined>)[RESOLVED]
        : undefined
    const prepared = carried || typeof config !== 'object' || !config?.entra ? undefined : prepare(config, process.env)
    super(prepared ? prepared.pgConfig : (config as pg.ClientConfig | string | undefined))
    this.#entra = carried ?? prepared?.entra
    const c = typeof config === 'object' && config ? config : {}
    this.#keepAlive = {
      keepAlive: c.keepAlive ?? false,
      keepAliveInitialDelayMillis: c.keepAliveInitialDelayMillis ?? 0,
    }
  }

  override connect(): Promise<void>
  override connect(callback: (err: Error) => void): void
  override connect(callback?: (err: Error) => void): Promise<void> | void {
    if (!this.#entra) return callback ? super.connect(callback) : super.connect()
    const done = this.#connectWithEntra(this.#entra)
    if (!callback) return done
    const reply = callback as ConnectCallback
    done.then(
      () => reply(null, this),
      (error: Error) => reply(error),
    )
    return undefined
  }

  override end(): Promise<void>
  override end(callback: (err: Error) => void): void
  override end(callback?: (err: Error) => void): Promise<void> | void {
    if (this.#entra?.ownsAuth) void this.#entra.auth.close()
    return callback ? super.end(callback) : super.end()
  }

  async #connectWithEntra(entra: EntraConnection): Promise<void> {
    const self = this as unknown as PgInternals
    if (!entra.user) {
      const user = await entra.auth.principal()
      this.user = user
      self.connectionParameters.user = user
    }
    for (let attempt = 0; ; attempt++) {
      let sent: string | undefined
      const password = async () => {
        sent = await entra.auth.password()
        return sent
      }
      self.password = password
      self.connectionParameters.password = password
      try {
        await super.connect()
        return
      } catch (error) {
        if (isPgEntraError(error)) {
          self.connection.stream?.destroy?.()
          throw error
        }
        // Before the password is asked for, nothing was sent: a TLS failure there is one to explain, not to retry.
        if (sent === undefined) throw tlsFailure(error, { host: this.host, port: this.port }) ?? error
        if (!isAuthRefusal(error)) throw error
        if (attempt === 0) {
          entra.auth.invalidate(sent)
          const fresh = await entra.auth.token()
          if (fresh.token !== sent) {
            this.#resetForRetry()
            continue
          }
        }
        throw await tokenRefused(error, this.user ?? '', sent, entra.auth)
      }
    }
  }

  /** pg clients connect once; after a refused login this puts one back in its unconnected state with a new socket. */
  #resetForRetry(): void {
    const self = this as unknown as PgInternals
    const old = self.connection
    old.removeAllListeners()
    old.on('error', () => {})
    old.stream?.destroy?.()
    self._connecting = false
    self._connected = false
    self._connectionError = false
    self._ending = false
    self._ended = false
    self._queryable = true
    const params = self.connectionParameters
    ;(self as { connection: unknown }).connection = new pg.Connection({
      ssl: params.ssl,
      sslNegotiation: params.sslnegotiation,
      encoding: params.client_encoding || 'utf8',
      ...this.#keepAlive,
    } as ConstructorParameters<typeof pg.Connection>[0])
  }
}

/**
 * A real pg.Pool. With `entra` every new connection takes the current token (one request however many connect at
 * once) through {@link Client}; `pool.end()` also closes an EntraAuth the pool made. Without `entra`, plain pg.
 */
export function createPool(config: EntraPoolConfig = {}): pg.Pool {
  if (!config.entra) {
    const { entra: _ignored, ...plain } = config
    return new pg.Pool(plain)
  }
  const { pgConfig, entra } = prepare(config as EntraClientConfig, process.env)
  const carried: EntraConnection = { ...entra, ownsAuth: false }
  const pool = new pg.Pool({ ...(pgConfig as pg.PoolConfig), Client, [RESOLVED]: carried } as pg.PoolConfig)
  if (entra.ownsAuth) {
    const end = pool.end.bind(pool) as (callback?: () => void) => Promise<void> | undefined
    pool.end = ((callback?: () => void) => {
      void entra.auth.close()
      return end(callback)
    }) as typeof pool.end
  }
  return pool
}

/**
 * For other clients built on pg (ORMs): the plain pg config for `config` with the password function, the user
 * (derived from the token when missing: this fetches a token) and verified TLS. Without `entra`, `config` unchanged.
 * An EntraAuth made here from options is reachable with {@link entraAuthOf}.
 */
export async function resolvePgConfig(config: EntraPgConfig): Promise<ResolvedPgConfig> {
  if (!config.entra) {
    const { entra: _ignored, ...plain } = config
    return plain as unknown as ResolvedPgConfig
  }
  const { pgConfig, entra } = prepare(config, process.env)
  const user = entra.user ?? (await entra.auth.principal())
  const resolved = { ...pgConfig, user } as ResolvedPgConfig
  Object.defineProperty(resolved, AUTH_OF, { value: entra.auth, enumerable: false })
  return resolved
}

/** The EntraAuth behind a config from {@link resolvePgConfig}. */
export function entraAuthOf(config: object): EntraAuth | undefined {
  return (config as Record<symbol, EntraAuth | undefined>)[AUTH_OF]
}
