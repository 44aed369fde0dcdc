// pg-entra/postgres: postgres.js (porsager/postgres) 3 with an Entra token as the password. postgres.js calls `pass`
// for every new connection, so the token stays fresh by itself; but it calls it with no socket in hand, and its own
// TLS has traps (`ssl: 'require'` does not verify; an IP host is checked as "localhost"). So the kernel opens every
// connection itself (postgres.js's documented `socket` option): SSLRequest, TLS verified for the host connected to,
// and only then does postgres.js write its startup message and, when asked, the token.
import type postgres from 'postgres'
import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import type { AuthHandle } from '../kernel/auth-handle.js'
import { type ConnectionInput, prepareConnection } from '../kernel/connection.js'
import { openVerifiedSocket } from '../kernel/verified-socket.js'

type PostgresTypes = Record<string, postgres.PostgresType>
// biome-ignore lint/complexity/noBannedTypes: postgres.js's own default for "no custom types"
type NoCustomTypes = {}

export interface PostgresEntraExtras {
  /**
   * Entra options (`{}` reads AZURE_* from the environment) or an EntraAuth to share with other pools.
   * Absent: plain postgres.js, nothing changed.
   */
  entra?: EntraAuthOptions | EntraAuth
}

export type PostgresEntraOptions<T extends PostgresTypes = NoCustomTypes> = postgres.Options<T> & PostgresEntraExtras

/** The arguments to hand to `postgres(...)`. With Entra the URL is parsed here, so `url` is undefined. */
export interface ResolvedPostgres<T extends PostgresTypes = NoCustomTypes> {
  url: string | undefined
  options: postgres.Options<T>
  /** The EntraAuth in use (created from `entra` options, or the one given). */
  auth: EntraAuth | undefined
}

const DEFAULT_CONNECT_TIMEOUT_S = 30
/** postgres.js `ssl` strings that name a libpq sslmode. */
const SSL_MODES = new Set(['require', 'prefer', 'allow', 'verify-full', 'verify-ca', 'disable'])

/**
 * Resolves what `postgres()` needs for Entra: `pass` is the token function (postgres.js calls it for every new
 * connection), `user` is derived from the token when neither the options, the URL nor PGUSER/PGUSERNAME name one, and
 * `socket` opens each connection over TLS verified for the host (TLS_REQUIRED for TLS that is off, optional or
 * unverified, unless `entra.allowUnverifiedTls`). The URL, key=value strings and PG* are read as for every adapter.
 */
export async function resolvePostgres<T extends PostgresTypes = NoCustomTypes>(
  urlOrOptions?: string | PostgresEntraOptions<T>,
  maybeOptions?: PostgresEntraOptions<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedPostgres<T>> {
  const url = typeof urlOrOptions === 'string' ? urlOrOptions : undefined
  const { entra, ...options } = optionsOf(urlOrOptions, maybeOptions) ?? {}
  if (entra === undefined) return { url, options, auth: undefined }
  return (await prepare(url, options, entra, env)).resolved as ResolvedPostgres<T>
}

async function prepare<T extends PostgresTypes>(
  url: string | undefined,
  options: postgres.Options<T>,
  entra: EntraAuthOptions | EntraAuth,
  env: NodeJS.ProcessEnv,
): Promise<{ resolved: ResolvedPostgres<T>; handle: AuthHandle }> {
  if (options.password !== undefined || options.pass !== undefined) {
    throw new PgEntraError('INVALID_OPTION', 'both a password and Entra options were given to postgres.js', {
      hint: 'remove `password`/`pass`: with `entra` the password is the Entra token',
      details: { option: 'password' },
    })
  }
  if ((options as { socket?: unknown }).socket !== undefined) {
    throw new PgEntraError('INVALID_OPTION', 'a custom socket is given together with entra', {
      hint: 'pg-entra opens every connection itself (TLS verified for the host): remove `socket`',
      details: { option: 'socket' },
    })
  }
  if (options.path !== undefined) {
    throw new PgEntraError(
      'TLS_REQUIRED',
      'refusing to send an Entra token over a Unix socket, where TLS is not available',
      {
        hint: 'connect with host and port over TLS',
        details: { option: 'path' },
      },
    )
  }
  const prepared = prepareConnection(inputOf(url, options), entra, env)
  try {
    const { fields, handle } = prepared
    const user = await prepared.resolveUser()
    const timeoutMs =
      1000 * (Number(options.connect_timeout) || fields.connectTimeoutSeconds || DEFAULT_CONNECT_TIMEOUT_S)
    const target = {
      host: fields.host,
      port: fields.port,
      tls: prepared.ssl,
      allowUnverifiedTls: handle.auth.allowUnverifiedTls,
      timeoutMs,
    }
    const {
      host: _host,
      hostname: _hostname,
      port: _port,
      database: _database,
      db: _db,
      user: _user,
      username: _username,
      ssl: _ssl,
      ...rest
    } = options as postgres.Options<T> & { hostname?: unknown; db?: unknown }
    const connection = {
      ...(fields.applicationName ? { application_name: fields.applicationName } : {}),
      ...(fields.options ? { options: fields.options } : {}),
      ...rest.connection,
    }
    const resolved: ResolvedPostgres<T> = {
      url: undefined,
      options: {
        ...rest,
        host: fields.host,
        port: fields.port,
        ...(fields.database ? { database: fields.database } : {}),
        user,
        pass: handle.auth.password,
        ssl: false, // TLS is the socket's: set up and verified before postgres.js writes a byte
        socket: () => openVerifiedSocket(target),
        ...(Object.keys(connection).length > 0 ? { connection } : {}),
      } as postgres.Options<T>,
      auth: handle.auth,
    }
    return { resolved, handle }
  } catch (error) {
    await prepared.handle.release()
    throw error
  }
}

/** postgres.js's option names on the kernel's input (the URL, when given, parsed by the kernel like any other). */
function inputOf(url: string | undefined, options: postgres.Options<PostgresTypes>): ConnectionInput {
  const o = options as postgres.Options<PostgresTypes> & { hostname?: unknown; db?: unknown }
  const ssl = o.ssl
  const sslmode = typeof ssl === 'string' && SSL_MODES.has(ssl) ? ssl : ssl === false ? 'disable' : undefined
  const input: ConnectionInput = {
    connectionString: url,
    host: o.host ?? o.hostname,
    port: o.port,
    database: o.database ?? o.db,
    user: o.user ?? o.username,
    ...(o.connection?.application_name ? { application_name: o.connection.application_name } : {}),
  }
  if (sslmode !== undefined) {
    // A mode in the options is the most specific: it overrides a URL's or PGSSLMODE's.
    input.ssl = undefined
    input.connectionString = withSslMode(url, sslmode)
  } else if (ssl !== undefined && ssl !== true) {
    input.ssl = ssl
  }
  return input
}

/** The URL (or an empty key=value string) with its sslmode replaced, so that the kernel reads one mode. */
function withSslMode(url: string | undefined, sslmode: string): string {
  if (url === undefined) return `sslmode=${sslmode}`
  if (!/^postgres(ql)?:\/\//i.test(url)) return `${url} sslmode=${sslmode}`
  const [base, query = ''] = url.split('?', 2) as [string, string?]
  const kept = query
    .split('&')
    .filter((pair) => pair !== '' && !/^(sslmode|ssl)=/.test(pair))
    .concat(`sslmode=${sslmode}`)
  return `${base}?${kept.join('&')}`
}

/**
 * `postgres()` with Entra: `const sql = await createPostgres({ entra: {} })`. Loads postgres.js lazily; when
 * pg-entra created the EntraAuth, `sql.end()` also closes it.
 */
export async function createPostgres<T extends PostgresTypes = NoCustomTypes>(
  urlOrOptions?: string | PostgresEntraOptions<T>,
  maybeOptions?: PostgresEntraOptions<T>,
): Promise<postgres.Sql<T>> {
  const url = typeof urlOrOptions === 'string' ? urlOrOptions : undefined
  const { entra, ...options } = optionsOf(urlOrOptions, maybeOptions) ?? {}
  const { default: connect } = await import('postgres')
  if (entra === undefined) {
    return (url === undefined ? connect(options) : connect(url, options)) as unknown as postgres.Sql<T>
  }
  const { resolved, handle } = await prepare(url, options, entra, process.env)
  const sql = connect(resolved.options) as unknown as postgres.Sql<T>
  if (handle.owned) {
    const end = sql.end.bind(sql)
    sql.end = async (endOptions) => {
      try {
        await end(endOptions)
      } finally {
        await handle.release()
      }
    }
  }
  return sql
}

/** postgres.js's two call forms, `(url, options)` and `(options)`; `(undefined, options)` too (an unset DATABASE_URL). */
function optionsOf<T extends PostgresTypes>(
  urlOrOptions: string | PostgresEntraOptions<T> | undefined,
  maybeOptions: PostgresEntraOptions<T> | undefined,
): PostgresEntraOptions<T> | undefined {
  return typeof urlOrOptions === 'object' ? urlOrOptions : maybeOptions
}
