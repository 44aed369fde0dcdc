import { PgEntraError } from '../errors/pg-entra-error.js'
import { asPort, type ConnectionFields } from './connection-fields.js'

/** pg's own config keys that name where to connect (pg.ClientConfig's spelling). */
export interface PgConnectionKeys {
  host?: unknown
  port?: unknown
  database?: unknown
  user?: unknown
  application_name?: unknown
  options?: unknown
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  return typeof value
}

function invalid(option: string, expected: string, value: unknown, hint: string): PgEntraError {
  return new PgEntraError('INVALID_OPTION', `option ${option} must be ${expected} (got ${describeType(value)})`, {
    hint,
    details: { option },
  })
}

const absent = (value: unknown) => value === undefined || value === null || value === ''

/** A string option, or undefined when absent ('' too, as pg reads it); anything else is INVALID_OPTION. */
function text(config: PgConnectionKeys, option: keyof PgConnectionKeys): string | undefined {
  const value = config[option]
  if (absent(value)) return undefined
  if (typeof value !== 'string') throw invalid(option, 'a string', value, `give ${option} as a string, or remove it`)
  return value
}

/**
 * The connection fields given as pg options, checked up front: strings where pg wants strings and a port from 1 to
 * 65535 (a number or decimal text), so that a mistake is INVALID_OPTION naming the option, not a TypeError or a
 * connection to the wrong place later. Values are not echoed, only their type.
 */
export function pgConfigFields(config: PgConnectionKeys): ConnectionFields {
  const fields: ConnectionFields = {}
  const host = text(config, 'host')
  if (host !== undefined) fields.host = host
  if (!absent(config.port)) {
    const port = asPort(config.port)
    if (port === undefined) {
      const expected = typeof config.port === 'number' ? 'a whole number from 1 to 65535' : 'a port number'
      throw invalid('port', expected, config.port, 'give port as a number from 1 to 65535, e.g. 5432')
    }
    fields.port = port
  }
  const database = text(config, 'database')
  if (database !== undefined) fields.database = database
  const user = text(config, 'user')
  if (user !== undefined) fields.user = user
  const applicationName = text(config, 'application_name')
  if (applicationName !== undefined) fields.applicationName = applicationName
  const options = text(config, 'options')
  if (options !== undefined) fields.options = options
  return fields
}
