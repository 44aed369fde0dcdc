import { parse } from 'pg-connection-string'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { asPort, type ConnectionFields } from './connection-fields.js'

function invalid(message: string, hint: string): PgEntraError {
  return new PgEntraError('INVALID_OPTION', message, { hint, details: { option: 'connectionString' } })
}

// Errors name keys and positions, never text from the string: a password with a space in it, left unquoted, splits
// into pieces the parser reads as keys and values.

function port(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = asPort(value)
  if (n === undefined)
    throw invalid('connectionString: port is not a port number', 'use a port from 1 to 65535, e.g. 5432')
  return n
}

function seconds(value: string | undefined, key: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = value.trim() === '' ? Number.NaN : Number(value)
  if (!Number.isFinite(n) || n < 0) throw invalid(`connectionString: ${key} is not a number of seconds`, `fix ${key}`)
  return n
}

/** Keys a libpq connection string may carry that we map; others are refused so that typos do not pass silently. */
const keyValueKeys = new Set([
  'host',
  'hostaddr',
  'port',
  'dbname',
  'user',
  'password',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'application_name',
  'fallback_application_name',
  'options',
  'connect_timeout',
  'uselibpqcompat',
])

/** The known key `key` is likely a slip for (same letters ignoring case, `_` and `-`, or one edit away), if any. */
function knownKeyNear(key: string): string | undefined {
  const squash = (k: string) => k.toLowerCase().replace(/[_-]/g, '')
  const typed = squash(key)
  if (typed.length < 3) return undefined
  return [...keyValueKeys].find((known) => squash(known) === typed || withinOneEdit(squash(known), typed))
}

/** Whether `a` becomes `b` by one insertion, deletion, substitution or swap of neighbours. */
function withinOneEdit(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  const rest = (x: string, from: number) => x.slice(from)
  if (a.length === b.length) {
    if (rest(a, i + 1) === rest(b, i + 1)) return true
    return a[i] === b[i + 1] && a[i + 1] === b[i] && rest(a, i + 2) === rest(b, i + 2)
  }
  return a.length > b.length ? rest(a, i + 1) === rest(b, i) : rest(a, i) === rest(b, i + 1)
}

/** Parses `key=value key2='quoted value'` (libpq's format: whitespace-separated, single quotes, backslash escapes). */
export function parseKeyValueString(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  let i = 0
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++
  }
  while (true) {
    skipSpace()
    if (i >= text.length) break
    const keyStart = i
    while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++
    const key = text.slice(keyStart, i)
    skipSpace()
    if (!key || text[i] !== '=') {
      throw invalid(
        `connectionString: expected key=value at position ${keyStart}`,
        "write key=value pairs separated by spaces (quote values with spaces: key='a b'), or a postgres:// URL",
      )
    }
    i++
    skipSpace()
    let value = ''
    const valueStart = i
    if (text[i] === "'") {
      i++
      let closed = false
      while (i < text.length) {
        const c = text[i]!
        if (c === '\\' && i + 1 < text.length) {
          value += text[i + 1]
          i += 2
        } else if (c === "'") {
          i++
          closed = true
          break
        } else {
          value += c
          i++
        }
      }
      if (!closed) {
        throw invalid(
          `connectionString: unterminated quoted value at position ${valueStart}`,
          "close the value with ' (escape a quote inside it as \\')",
        )
      }
    } else {
      while (i < text.length && !/\s/.test(text[i]!)) {
        if (text[i] === '\\' && i + 1 < text.length) i++
        value += text[i]
        i++
      }
    }
    if (!keyValueKeys.has(key)) {
      const near = knownKeyNear(key)
      throw invalid(
        `connectionString: unknown key at position ${keyStart}`,
        `${near ? `did you mean ${near}? ` : ''}known keys: ${[...keyValueKeys].join(', ')}; quote values with spaces (key='a b')`,
      )
    }
    out[key] = value
  }
  return out
}

function fromKeyValues(kv: Record<string, string | undefined>): ConnectionFields {
  const fields: ConnectionFields = {}
  const set = <K extends keyof ConnectionFields>(key: K, value: ConnectionFields[K] | undefined) => {
    if (value !== undefined && value !== '') fields[key] = value
  }
  set('host', kv.host || kv.hostaddr)
  set('port', port(kv.port))
  set('database', kv.dbname ?? kv.database)
  set('user', kv.user)
  set('password', kv.password)
  set('applicationName', kv.application_name ?? kv.fallback_application_name)
  set('sslmode', kv.sslmode)
  set('sslrootcert', kv.sslrootcert)
  set('sslcert', kv.sslcert)
  set('sslkey', kv.sslkey)
  set('options', kv.options)
  set('connectTimeoutSeconds', seconds(kv.connect_timeout, 'connect_timeout'))
  if (kv.uselibpqcompat === 'true') fields.libpqCompat = true
  if (kv.ssl === 'false' || kv.ssl === '0') fields.sslmode ??= 'disable'
  return fields
}

const oursToInterpret = new Set(['sslrootcert', 'sslcert', 'sslkey', 'sslmode', 'uselibpqcompat'])

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator)
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)]
}

/**
 * Parses a postgres:// URL or a libpq key=value string into discrete fields. The SSL files are returned as paths
 * (read later, so a missing file is reported against its option). Errors never quote the string: it may hold a password.
 */
export function parseConnectionString(text: string): ConnectionFields {
  if (typeof text !== 'string' || text.trim() === '') {
    throw invalid('connectionString is empty', 'give a postgres:// URL or key=value pairs')
  }
  const trimmed = text.trim()
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) return fromKeyValues(parseKeyValueString(trimmed))
  if (!/^postgres(ql)?:\/\//i.test(trimmed)) {
    throw invalid(
      'connectionString must start with postgres:// or postgresql://',
      'e.g. postgres://user@host:5432/db?sslmode=verify-full',
    )
  }
  let raw: Record<string, unknown>
  try {
    // SSL settings are ours to interpret (files read later, sslmode judged by the adapter): the parser must not read
    // files or warn about sslmode.
    const files: Record<string, string> = {}
    const [base, query = ''] = splitOnce(trimmed, '?')
    const kept = query.split('&').filter((pair) => {
      const [key = '', value = ''] = splitOnce(pair, '=')
      if (!oursToInterpret.has(key)) return true
      files[key] = decodeURIComponent(value.replace(/\+/g, ' '))
      return false
    })
    raw = { ...parse(kept.length > 0 && kept.join('') !== '' ? `${base}?${kept.join('&')}` : base), ...files }
  } catch (cause) {
    if (cause instanceof PgEntraError) throw cause
    throw invalid(
      'connectionString is not a valid URL',
      'check its syntax; percent-encode special characters in the password (e.g. @ as %40)',
    )
  }
  const str = (key: string) => (typeof raw[key] === 'string' ? (raw[key] as string) : undefined)
  if (str('host')?.includes(',')) {
    throw invalid('connectionString: several hosts are not supported', 'give one host')
  }
  return fromKeyValues({
    host: str('host'),
    port: str('port') ?? undefined,
    database: str('database') ?? undefined,
    user: str('user'),
    password: str('password'),
    application_name: str('application_name'),
    fallback_application_name: str('fallback_application_name'),
    sslmode: str('sslmode'),
    sslrootcert: str('sslrootcert'),
    sslcert: str('sslcert'),
    sslkey: str('sslkey'),
    options: str('options'),
    connect_timeout: str('connect_timeout'),
    uselibpqcompat: str('uselibpqcompat'),
    ssl: typeof raw.ssl === 'string' ? raw.ssl : raw.ssl === false ? 'false' : undefined,
  })
}
