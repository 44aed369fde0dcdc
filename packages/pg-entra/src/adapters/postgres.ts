// pg-entra/postgres: postgres.js (porsager/postgres) 3 with an Entra token as the password.
// postgres.js calls a `pass` function for every new connection, so the token stays fresh by itself. What needs care:
// - its `ssl: 'require' | 'prefer' | 'allow'` (and a URL's sslmode=require) skip certificate verification, and it
//   ignores PGSSLMODE / PGSSLROOTCERT: with Entra the token would cross an unverified link. 'require' is made to
//   verify (as pg does); 'prefer' and 'allow', which may also fall back to no TLS, are refused (TLS_REQUIRED).
// - a URL's `sslrootcert` would be sent to the server as a startup parameter: read here as the CA instead.
// - without PGUSER it falls back to the OS user name: the database user is derived from the token instead.
import type postgres from 'postgres'
import { allowsUnverifiedTls, entraAuth, isEntraAuth } from '../auth/entra-auth.js'
import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'
import type { ConnectionFields } from '../config/connection-fields.js'
import { readPgEnv } from '../config/env.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { resolveEntraSsl } from '../tls/pg-ssl.js'

type PostgresTypes = Record<string, postgres.PostgresType>
// biome-ignore lint/complexity/noBannedTypes: postgres.js's own default for "no custom types"
type NoCustomTypes = {}
type SslOption = NonNullable<postgres.Options<PostgresTypes>['ssl']>

export interface PostgresEntraExtras {
  /**
   * Entra options (`{}` reads AZURE_* from the environment) or an EntraAuth to share with other pools.
   * Absent: plain postgres.js, nothing changed.
   */
  entra?: EntraAuthOptions | EntraAuth
}

export type PostgresEntraOptions<T extends PostgresTypes = NoCustomTypes> = postgres.Options<T> & PostgresEntraExtras

/** The arguments to hand to `postgres(...)`: the URL (when one was given, its TLS parameters taken out) and options. */
export interface ResolvedPostgres<T extends PostgresTypes = NoCustomTypes> {
  url: string | undefined
  options: postgres.Options<T>
  /** The EntraAuth in use (created from `entra` options, or the one given). */
  auth: EntraAuth | undefined
}

/**
 * Resolves what `postgres()` needs for Entra: `pass` is the token function (postgres.js calls it for every new
 * connection), `user` is derived from the token when neither the options, the URL nor PGUSER/PGUSERNAME name one,
 * and `ssl` always verifies the server (postgres.js's 'require' does not: here it does; PGSSLMODE, PGSSLROOTCERT and
 * the URL's sslrootcert, which postgres.js ignores or would send to the server, are applied). Fails with TLS_REQUIRED
 * for TLS that is off, optional ('prefer', 'allow') or unverified unless `entra.allowUnverifiedTls`.
 */
export async function resolvePostgres<T extends PostgresTypes = NoCustomTypes>(
  urlOrOptions?: string | PostgresEntraOptions<T>,
  maybeOptions?: PostgresEntraOptions<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedPostgres<T>> {
  const givenUrl = typeof urlOrOptions === 'string' ? urlOrOptions : undefined
  const given = optionsOf(urlOrOptions, maybeOptions) ?? {}
  const { entra, ...options } = given
  if (entra === undefined) return { url: givenUrl, options, auth: undefined }
  if (options.password !== undefined || options.pass !== undefined) {
    throw new PgEntraError('INVALID_OPTION', 'both a password and Entra options were given to postgres.js', {
      hint: 'remove `password`/`pass`: with `entra` the password is the Entra token',
    })
  }

  const auth = isEntraAuth(entra) ? entra : entraAuth(entra)
  const url = givenUrl === undefined ? undefined : parsePostgresUrl(givenUrl)
  const envFields = readPgEnv(env)
  if (options.path !== undefined) {
    throw new PgEntraError(
      'TLS_REQUIRED',
      'refusing to send an Entra token over a Unix socket, where TLS is not available',
      {
        hint: 'connect with host and port over TLS',
      },
    )
  }
  const ssl = postgresSsl(
    options.ssl,
    {
      sslmode: url?.sslmode ?? envFields.sslmode,
      sslrootcert: url?.sslrootcert ?? envFields.sslrootcert,
      sslcert: url?.sslcert ?? envFields.sslcert,
      sslkey: url?.sslkey ?? envFields.sslkey,
    },
    allowsUnverifiedTls(auth),
  )

  const user =
    options.user ?? options.username ?? url?.username ?? (env.PGUSERNAME || env.PGUSER || (await auth.principal()))
  return {
    url: url?.withoutTlsParameters,
    options: { ...options, user, pass: auth.password, ssl } as postgres.Options<T>,
    auth,
  }
}

/**
 * `postgres()` with Entra: `const sql = await createPostgres({ entra: {} })`. Loads postgres.js lazily; when
 * pg-entra created the EntraAuth, `sql.end()` also closes it.
 */
export async function createPostgres<T extends PostgresTypes = NoCustomTypes>(
  urlOrOptions?: string | PostgresEntraOptions<T>,
  maybeOptions?: PostgresEntraOptions<T>,
): Promise<postgres.Sql<T>> {
  const { url, options, auth } = await resolvePostgres(urlOrOptions, maybeOptions)
  const { default: connect } = await import('postgres')
  const sql = (url === undefined ? connect(options) : connect(url, options)) as unknown as postgres.Sql<T>
  const given = optionsOf(urlOrOptions, maybeOptions)
  if (auth !== undefined && given?.entra !== undefined && !isEntraAuth(given.entra)) {
    const end = sql.end.bind(sql)
    sql.end = async (endOptions) => {
      await end(endOptions)
      await auth.close()
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

const POSTGRES_JS_SSL_MODES = new Set(['require', 'prefer', 'allow', 'verify-full'])

/**
 * The `ssl` option for postgres.js, by the same rules as pg-entra/pg: verified TLS (the CA from sslrootcert /
 * PGSSLROOTCERT when given), 'require' and 'verify-full' verified, anything that may skip TLS or verification a
 * TLS_REQUIRED error unless the EntraAuth allows unverified TLS. `option` is postgres.js's own `ssl` option;
 * `fields` the sslmode and files from the URL or the environment.
 */
export function postgresSsl(
  option: SslOption | undefined,
  fields: ConnectionFields,
  allowUnverified: boolean,
): SslOption {
  const asMode = typeof option === 'string' && POSTGRES_JS_SSL_MODES.has(option)
  const ssl = resolveEntraSsl(
    asMode ? undefined : option,
    asMode ? { ...fields, sslmode: option } : fields,
    allowUnverified,
  )
  return ssl === true ? 'verify-full' : ssl
}

interface ParsedPostgresUrl {
  username: string | undefined
  sslmode: string | undefined
  sslrootcert: string | undefined
  sslcert: string | undefined
  sslkey: string | undefined
  /** The URL minus the TLS query parameters pg-entra applies itself (postgres.js would send them to the server). */
  withoutTlsParameters: string
}

const TLS_PARAMETERS = ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey']

/** Reads a postgres:// URL the way postgres.js does, including several comma-separated hosts. */
export function parsePostgresUrl(url: string): ParsedPostgresUrl {
  const afterScheme = url.slice(url.indexOf('://') + 3)
  const authority = afterScheme.split(/[/?#]/)[0] ?? ''
  const hosts = authority.slice(authority.lastIndexOf('@') + 1)
  let parsed: URL
  try {
    parsed = new URL(url.replace(hosts, hosts.split(',')[0] ?? ''))
  } catch (cause) {
    throw new PgEntraError('INVALID_OPTION', 'the postgres.js connection URL cannot be parsed', { cause })
  }
  const query = parsed.searchParams
  const sslmode = query.get('sslmode') ?? sslFlag(query.get('ssl'))
  const sslrootcert = query.get('sslrootcert') ?? undefined
  const sslcert = query.get('sslcert') ?? undefined
  const sslkey = query.get('sslkey') ?? undefined
  const queryStart = url.indexOf('?')
  let withoutTlsParameters = url
  if (queryStart >= 0) {
    const [query, fragment] = url.slice(queryStart + 1).split('#', 2) as [string, string | undefined]
    const kept = new URLSearchParams(query)
    for (const name of TLS_PARAMETERS) kept.delete(name)
    const rest = kept.toString()
    withoutTlsParameters = `${url.slice(0, queryStart)}${rest ? `?${rest}` : ''}${fragment === undefined ? '' : `#${fragment}`}`
  }
  return {
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    sslmode,
    sslrootcert,
    sslcert,
    sslkey,
    withoutTlsParameters,
  }
}

/** A URL's `ssl=true|false` (pg's spelling) as an sslmode. */
function sslFlag(value: string | null): string | undefined {
  if (value === null) return undefined
  if (value === 'true' || value === '1') return 'verify-full'
  if (value === 'false' || value === '0') return 'disable'
  return value
}
