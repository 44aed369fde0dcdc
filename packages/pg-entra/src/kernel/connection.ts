// The one place an application's connection input (options, a URL or key=value string, PG* variables) becomes
// fields, TLS is decided, and the EntraAuth is made or borrowed. Every adapter, the CLI and the proxy start here.
import type { ConnectionFields } from '../config/connection-fields.js'
import { parseConnectionString } from '../config/connection-string.js'
import { type Env, readPgEnv } from '../config/env.js'
import { type PgConnectionKeys, pgConfigFields } from '../config/pg-fields.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { type PgSsl, resolveEntraSsl } from '../tls/pg-ssl.js'
import { type AuthHandle, type EntraOption, holdAuth } from './auth-handle.js'

/** What an application may give, in pg's spelling (adapters map their client's names onto it). */
export interface ConnectionInput extends PgConnectionKeys {
  /** A postgres:// URL or a libpq key=value string; parsed here into fields, never handed to a driver. */
  connectionString?: string | undefined
  /** The driver's own TLS option (pg's `ssl`). */
  ssl?: unknown
  /** Must be absent with Entra: the token is the password. */
  password?: unknown
}

export interface PreparedConnection {
  readonly handle: AuthHandle
  /** PG* variables, then the connection string, then explicit options: the most specific wins. No password. */
  readonly fields: ConnectionFields & { host: string; port: number }
  /** Node TLS options (pg's `ssl` shape): verified TLS, unless the EntraAuth allows unverified TLS. */
  readonly ssl: PgSsl
  /** The user given, or undefined when it is to be derived from the token. */
  readonly user: string | undefined
  /** The user given, else the one derived from the token's claims (fetches a token; USER_NOT_DERIVABLE otherwise). */
  resolveUser(): Promise<string>
}

/**
 * Resolves where to connect and how, without network: fields, TLS (TLS_REQUIRED for anything weaker than verified
 * TLS unless `allowUnverifiedTls`), and the EntraAuth. An EntraAuth made here is released if resolution fails.
 */
export function prepareConnection(
  input: ConnectionInput,
  entra: EntraOption,
  env: Env = process.env,
): PreparedConnection {
  if (input.password !== undefined && input.password !== null && input.password !== '') {
    throw new PgEntraError('INVALID_OPTION', 'password is given together with entra', {
      hint: 'with entra the token is the password: remove password (or remove entra to use the password)',
      details: { option: 'password' },
    })
  }
  const handle = holdAuth(entra)
  try {
    const fields = connectionFields(input, env)
    const ssl = resolveEntraSsl(input.ssl, fields, handle.auth.allowUnverifiedTls)
    const user = fields.user
    let derived: Promise<string> | undefined
    return {
      handle,
      fields,
      ssl,
      user,
      resolveUser() {
        if (user !== undefined) return Promise.resolve(user)
        derived ??= handle.auth.principal().catch((error: unknown) => {
          derived = undefined
          throw error
        })
        return derived
      },
    }
  } catch (error) {
    void handle.release()
    throw error
  }
}

/** PG* variables, then the connection string, then the explicit options; never a password. */
function connectionFields(input: ConnectionInput, env: Env = process.env): PreparedConnection['fields'] {
  const fields: ConnectionFields = {
    ...defined(readPgEnv(env)),
    ...(input.connectionString ? defined(parseConnectionString(input.connectionString)) : {}),
    ...pgConfigFields(input),
  }
  delete fields.password // the token is the password; a placeholder in a URL or PGPASSWORD does not apply
  return { ...fields, host: fields.host ?? 'localhost', port: fields.port ?? 5432 }
}

function defined(fields: ConnectionFields): ConnectionFields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as ConnectionFields
}
