import { PgEntraError } from '../errors/pg-entra-error.js'
import { asPort, type ConnectionFields } from './connection-fields.js'

function invalid(name: string, expected: string, hint: string): PgEntraError {
  return new PgEntraError('INVALID_OPTION', `environment variable ${name} is not ${expected}`, {
    hint: `${hint}, or unset ${name}`,
    details: { option: name },
  })
}

export type Env = Readonly<Record<string, string | undefined>>

/**
 * The PG* variables libpq (and psql) read, as discrete fields; unset and empty variables are left out. A PGPORT or
 * PGCONNECT_TIMEOUT that is not a number is refused, as libpq refuses it (values are not echoed).
 */
export function readPgEnv(env: Env): ConnectionFields {
  const fields: ConnectionFields = {}
  const take = (name: string) => {
    const value = env[name]
    return value === undefined || value === '' ? undefined : value
  }
  const host = take('PGHOST') ?? take('PGHOSTADDR')
  if (host) fields.host = host
  const portText = take('PGPORT')
  if (portText !== undefined) {
    const port = asPort(portText)
    if (port === undefined) throw invalid('PGPORT', 'a port number', 'set a port from 1 to 65535, e.g. PGPORT=5432')
    fields.port = port
  }
  const map: [keyof ConnectionFields, string][] = [
    ['database', 'PGDATABASE'],
    ['user', 'PGUSER'],
    ['password', 'PGPASSWORD'],
    ['sslmode', 'PGSSLMODE'],
    ['sslrootcert', 'PGSSLROOTCERT'],
    ['sslcert', 'PGSSLCERT'],
    ['sslkey', 'PGSSLKEY'],
    ['applicationName', 'PGAPPNAME'],
    ['options', 'PGOPTIONS'],
  ]
  for (const [field, name] of map) {
    const value = take(name)
    if (value !== undefined) (fields as Record<string, unknown>)[field] = value
  }
  // postgres.js's own name for the user, read by every adapter alike.
  if (fields.user === undefined) {
    const username = take('PGUSERNAME')
    if (username !== undefined) fields.user = username
  }
  const timeoutText = take('PGCONNECT_TIMEOUT')
  if (timeoutText !== undefined) {
    const timeout = timeoutText.trim() === '' ? Number.NaN : Number(timeoutText)
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw invalid(
        'PGCONNECT_TIMEOUT',
        'a number of seconds',
        'set a whole number of seconds, e.g. PGCONNECT_TIMEOUT=10',
      )
    }
    if (timeout > 0) fields.connectTimeoutSeconds = timeout // 0: wait indefinitely, as libpq
  }
  return fields
}
