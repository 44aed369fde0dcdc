import type { ConnectionFields } from './connection-fields.js'

/** The PG* variables libpq (and psql) read, as discrete fields; unset and empty variables are left out. */
export function readPgEnv(env: Readonly<Record<string, string | undefined>>): ConnectionFields {
  const fields: ConnectionFields = {}
  const take = (name: string) => {
    const value = env[name]
    return value === undefined || value === '' ? undefined : value
  }
  const host = take('PGHOST') ?? take('PGHOSTADDR')
  if (host) fields.host = host
  const port = Number(take('PGPORT'))
  if (Number.isInteger(port) && port > 0 && port <= 65535) fields.port = port
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
  const timeout = Number(take('PGCONNECT_TIMEOUT'))
  if (Number.isFinite(timeout) && timeout > 0) fields.connectTimeoutSeconds = timeout
  return fields
}
