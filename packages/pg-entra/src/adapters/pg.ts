// pg-entra/pg: a real pg.Pool and pg.Client with an Entra token as the password. What this file adds to the kernel:
// a user derived from the token before pg needs it, a pool that retries a refused login once with a fresh token (a new
// Client from the pool: pg cannot reconnect a used one), explained failures, and closing an EntraAuth it made when the
// pool or client ends.
import pg from 'pg'
import type { AuthHandle, EntraOption } from '../kernel/auth-handle.js'
import { type PreparedConnection, prepareConnection } from '../kernel/connection.js'
import { connectRetryingRefusal, explainLoginFailure } from '../kernel/pg-login.js'
import { checkPgWireEarly } from '../tls/pg-caller.js'
import type { PgSsl } from '../tls/pg-ssl.js'

/** Entra options (a new EntraAuth is made and owned) or an EntraAuth you made (and close yourself). */
export type EntraPgOption = EntraOption

export interface EntraClientConfig extends pg.ClientConfig {
  /** Authenticate with Entra tokens; `{}` takes everything from the environment. Absent: plain pg with its password. */
  entra?: EntraPgOption | undefined
}

export interface EntraPoolConfig extends pg.PoolConfig {
  entra?: EntraPgOption | undefined
}

/** The config resolvePgConfig takes: pg's client or pool config plus `entra` (ORM helpers build on it). */
export type EntraPgConfig = EntraPoolConfig

/** A plain pg config: discrete fields (no connectionString), the token function as password, a user, verified `ssl`. */
export interface ResolvedPgConfig extends Omit<pg.PoolConfig, 'password' | 'connectionString' | 'user' | 'ssl'> {
  host?: string
  port?: number
  database?: string
  user: string
  password: () => Promise<string>
  ssl: PgSsl
}

/** @internal The pg config for a prepared connection: pg's own options the application gave, then the kernel's fields. */
export function pgConfigOf(config: EntraClientConfig, prepared: PreparedConnection): pg.ClientConfig {
  const {
    entra: _entra,
    connectionString: _url,
    password: _password,
    ssl: _ssl,
    host: _host,
    port: _port,
    database: _database,
    user: _user,
    application_name: _applicationName,
    options: _options,
    ...rest
  } = config
  const { fields } = prepared
  return {
    ...rest,
    host: fields.host,
    port: fields.port,
    ...(fields.database ? { database: fields.database } : {}),
    ...(prepared.user ? { user: prepared.user } : {}),
    ...(fields.applicationName ? { application_name: fields.applicationName } : {}),
    ...(fields.options ? { options: fields.options } : {}),
    ...(fields.connectTimeoutSeconds && rest.connectionTimeoutMillis === undefined
      ? { connectionTimeoutMillis: fields.connectTimeoutSeconds * 1000 }
      : {}),
    ssl: prepared.ssl,
    password: prepared.handle.auth.password,
  }
}

function prepare(config: EntraClientConfig): PreparedConnection {
  return prepareConnection(config, config.entra as EntraOption)
}

/** The parts of pg.Client this file sets before connecting: the user pg writes into the startup message. */
interface ClientUserSlot {
  user?: string | undefined
  connectionParameters: { user?: string | undefined }
}

/**
 * A real pg.Client. With `entra`, the password is an Entra token that goes only over verified TLS, a missing user
 * is derived from the token, and failures come back explained (TOKEN_REFUSED with the statement to map the role).
 * A refused login is not retried on the same Client (pg connects a Client once): the refused token is forgotten, so
 * a new Client gets a fresh one; a Pool from {@link createPool} retries once by itself.
 */
export class Client extends pg.Client {
  constructor(config?: string | EntraClientConfig) {
    const prepared = typeof config === 'object' && config?.entra ? prepare(config) : undefined
    super(
      prepared ? pgConfigOf(config as EntraClientConfig, prepared) : (config as pg.ClientConfig | string | undefined),
    )
    if (!prepared) return
    checkPgWireEarly(this)
    // Instance properties, so that the declarations stay pg's own whichever @types/pg the application has.
    const connect = pg.Client.prototype.connect as (this: pg.Client) => Promise<unknown>
    const end = pg.Client.prototype.end as (this: pg.Client, callback?: (error: Error) => void) => Promise<void> | void
    const slot = this as unknown as ClientUserSlot
    const connectWithEntra = async (): Promise<void> => {
      if (!slot.user) {
        const user = await prepared.resolveUser()
        slot.user = user
        slot.connectionParameters.user = user
      }
      try {
        await connect.call(this)
      } catch (error) {
        throw await explainLoginFailure(error, targetOf(prepared, slot.user))
      }
    }
    this.connect = ((callback?: (error: Error | null, client?: pg.Client) => void) => {
      const done = connectWithEntra()
      if (!callback) return done.then(() => this)
      done.then(
        () => callback(null, this),
        (error: Error) => callback(error),
      )
      return undefined
    }) as pg.Client['connect']
    this.end = ((callback?: (error: Error) => void) => {
      void prepared.handle.release()
      return end.call(this, callback)
    }) as pg.Client['end']
  }
}

function targetOf(prepared: PreparedConnection, user: string | undefined) {
  return { host: prepared.fields.host, port: prepared.fields.port, user: user ?? '', auth: prepared.handle.auth }
}

/** The pool's clients, unless the application gives its own `Client`: pg's, with the wire check readied early. */
class EarlyCheckedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config)
    checkPgWireEarly(this)
  }
}

/**
 * A real pg.Pool. With `entra` every new connection takes the current token (one request however many connect at
 * once) over verified TLS; the user is derived from the token before the first connection when not given; a login the
 * server refuses is retried once with a fresh token; `pool.end()` also closes an EntraAuth the pool made. Without
 * `entra`, plain pg.
 */
export function createPool(config: EntraPoolConfig = {}): pg.Pool {
  const { entra, ...plain } = config
  if (!entra) return new pg.Pool(plain)
  const prepared = prepare(config as EntraClientConfig)
  const poolConfig = { Client: EarlyCheckedClient, ...pgConfigOf(config as EntraClientConfig, prepared) }
  return withEntra(new pg.Pool(poolConfig as pg.PoolConfig), prepared)
}

/**
 * Entra's connect and end on a pool of any pg 8 copy (pg-entra's, or an ORM's): connect derives the user first,
 * retries a refused login once with a fresh token and explains failures; end runs `release` (the EntraAuth is closed
 * if the pool's owner made it). Only pg-pool's public connect, end and options are used.
 */
export function withEntra(
  pool: pg.Pool,
  prepared: PreparedConnection,
  release: () => Promise<void> = () => prepared.handle.release(),
): pg.Pool {
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>
  const end = pool.end.bind(pool) as (callback?: () => void) => Promise<void> | undefined
  const options = (pool as unknown as { options: { user?: string; host?: string; port?: number } }).options
  const connectWithEntra = async (): Promise<pg.PoolClient> => {
    if (!options.user) options.user = await prepared.resolveUser()
    return connectRetryingRefusal(connect, {
      host: options.host ?? prepared.fields.host,
      port: options.port ?? prepared.fields.port,
      user: options.user,
      auth: prepared.handle.auth,
    })
  }
  pool.connect = ((callback?: (error: Error | undefined, client?: pg.PoolClient, done?: () => void) => void) => {
    const done = connectWithEntra()
    if (!callback) return done
    done.then(
      (client) => callback(undefined, client, () => client.release()),
      (error: Error) => callback(error),
    )
    return undefined
  }) as pg.Pool['connect']
  pool.end = ((callback?: () => void) => {
    const ended = end(callback)
    void release()
    return ended
  }) as pg.Pool['end']
  return pool
}

/**
 * For other clients built on pg (ORMs): the plain pg config with the token function as password, the user (derived
 * from the token when missing: this fetches a token) and verified TLS, plus the handle that says who closes the
 * EntraAuth. Without `entra`, `config` as it is and no handle.
 */
export async function preparePgConfig(
  config: EntraPgConfig,
): Promise<{ config: ResolvedPgConfig; handle: AuthHandle; prepared: PreparedConnection }> {
  const prepared = prepare(config as EntraClientConfig)
  try {
    const user = await prepared.resolveUser()
    return {
      config: { ...pgConfigOf(config as EntraClientConfig, prepared), user } as ResolvedPgConfig,
      handle: prepared.handle,
      prepared,
    }
  } catch (error) {
    await prepared.handle.release()
    throw error
  }
}

/**
 * The plain pg config for `config` (see {@link preparePgConfig}), for a client pg-entra has no adapter for. A config
 * has no shutdown of its own: pass an EntraAuth you made as `entra` and close it with your client (an EntraAuth made
 * here from options is never closed; its timers do not keep the process alive).
 */
export async function resolvePgConfig(config: EntraPgConfig): Promise<ResolvedPgConfig> {
  if (!config.entra) {
    const { entra: _ignored, ...plain } = config
    return plain as unknown as ResolvedPgConfig
  }
  return (await preparePgConfig(config)).config
}
