// libpq's two connection-string forms read as libpq itself reads them (fe-connect.c: conninfo_parse and
// conninfo_uri_parse_options), so that pg-entra psql can give sslmode=verify-full the last word in the string psql
// connects with: a later keyword wins in libpq, and values from the string win over PGSSLMODE and a service file.
// A string libpq would refuse is left as it is: psql then refuses it too, before connecting.

/** libpq's recognized_connection_string: a URI, or anything with an `=`. Else psql takes it as a database name. */
export function isConninfo(value: string): boolean {
  return isConninfoUri(value) || value.includes('=')
}

/** libpq's uri_prefix_length: these two prefixes, case-sensitively. */
export function isConninfoUri(value: string): boolean {
  return value.startsWith('postgresql://') || value.startsWith('postgres://')
}

const isSpace = (c: string | undefined) =>
  c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r'

/** `key=value key='quoted \' value'` pairs in order, or undefined where libpq would report a syntax error. */
export function parseKeywordValue(text: string): [string, string][] | undefined {
  const pairs: [string, string][] = []
  let i = 0
  const skipSpace = () => {
    while (i < text.length && isSpace(text[i])) i++
  }
  for (;;) {
    skipSpace()
    if (i >= text.length) return pairs
    const keyStart = i
    while (i < text.length && text[i] !== '=' && !isSpace(text[i])) i++
    const key = text.slice(keyStart, i)
    skipSpace()
    if (text[i] !== '=') return undefined
    i++
    skipSpace()
    let value = ''
    if (text[i] === "'") {
      i++
      for (;;) {
        if (i >= text.length) return undefined // unterminated quoted string
        const c = text[i]!
        if (c === '\\') {
          i++
          if (i < text.length) value += text[i++]
        } else if (c === "'") {
          i++
          break
        } else {
          value += c
          i++
        }
      }
    } else {
      while (i < text.length && !isSpace(text[i])) {
        if (text[i] === '\\') {
          i++
          if (i < text.length) value += text[i++]
        } else value += text[i++]
      }
    }
    pairs.push([key, value])
  }
}

/** Pairs written back in a form libpq reads as the same pairs: every value quoted, `\` and `'` escaped. */
export function formatKeywordValue(pairs: [string, string][]): string {
  return pairs.map(([key, value]) => `${key}='${value.replace(/[\\']/g, (c) => `\\${c}`)}'`).join(' ')
}

/**
 * Where a URI's query parameters start (the index after its `?`), or -1 when it has none, found the way
 * conninfo_uri_parse_options walks it: user info up to `@` (looked for before any `/`), hosts (`[...]` or up to
 * `:`, `/`, `?` or `,`), ports, then an optional `/dbname` up to `?`. Undefined where libpq reports an error.
 */
function uriQueryStart(uri: string): number | undefined {
  let p = uri.indexOf('://') + 3
  let ahead = p
  while (ahead < uri.length && uri[ahead] !== '@' && uri[ahead] !== '/') ahead++
  if (uri[ahead] === '@') p = ahead + 1
  let stop: string | undefined
  for (;;) {
    if (uri[p] === '[') {
      const close = uri.indexOf(']', p + 1)
      if (close === -1 || close === p + 1) return undefined
      p = close + 1
      if (p < uri.length && !':/?,'.includes(uri[p]!)) return undefined
    } else {
      while (p < uri.length && !':/?,'.includes(uri[p]!)) p++
    }
    stop = uri[p]
    if (stop === ':') {
      p++
      while (p < uri.length && !'/?,'.includes(uri[p]!)) p++
      stop = uri[p]
    }
    if (stop !== ',') break
    p++
  }
  if (stop === '/') {
    p++
    while (p < uri.length && uri[p] !== '?') p++
    stop = uri[p]
  }
  return stop === '?' ? p + 1 : -1
}

/** libpq's conninfo_uri_decode: %XX to its byte (as a char code), nothing else; undefined for a bad or %00 escape. */
function percentDecoded(text: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})|%00/.test(text)) return undefined
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
}

/** A URI's query parameters, decoded, in order (libpq maps `ssl=true` to sslmode=require); undefined on an error. */
function uriParameters(uri: string): [string, string][] | undefined {
  const start = uriQueryStart(uri)
  if (start === undefined) return undefined
  if (start === -1) return []
  const parts = uri.slice(start).split('&')
  if (parts[parts.length - 1] === '') parts.pop() // "?" alone, or a trailing "&"
  const pairs: [string, string][] = []
  for (const part of parts) {
    const [rawKey, rawValue, extra] = part.split('=')
    if (rawValue === undefined || extra !== undefined) return undefined
    const key = percentDecoded(rawKey!)
    const value = percentDecoded(rawValue)
    if (key === undefined || value === undefined) return undefined
    pairs.push(key === 'ssl' && value === 'true' ? ['sslmode', 'require'] : [key, value])
  }
  return pairs
}

/** The sslmode libpq would take from the string (the last one given), or undefined: none, or a string libpq refuses. */
export function sslmodeIn(conninfo: string): string | undefined {
  const pairs = isConninfoUri(conninfo) ? uriParameters(conninfo) : parseKeywordValue(conninfo)
  return pairs?.findLast(([key]) => key === 'sslmode')?.[1]
}

/** Whether the string names a libpq service (whose file then supplies what the string leaves out). */
export function serviceIn(conninfo: string): boolean {
  const pairs = isConninfoUri(conninfo) ? uriParameters(conninfo) : parseKeywordValue(conninfo)
  return pairs?.some(([key]) => key === 'service') ?? false
}

/**
 * The same connection string with sslmode=verify-full as its last word, or undefined when libpq would refuse the
 * string anyway (psql then fails before it connects). A key=value string is written back whole, so that no trailing
 * backslash or open quote of the original can swallow what is added.
 */
export function withVerifyFull(conninfo: string): string | undefined {
  if (isConninfoUri(conninfo)) {
    const start = uriQueryStart(conninfo)
    if (start === undefined || uriParameters(conninfo) === undefined) return undefined
    if (start === -1) return `${conninfo}?sslmode=verify-full`
    const separator = start === conninfo.length || conninfo.endsWith('&') ? '' : '&'
    return `${conninfo}${separator}sslmode=verify-full`
  }
  const pairs = parseKeywordValue(conninfo)
  if (!pairs) return undefined
  return formatKeywordValue([...pairs.filter(([key]) => key !== 'sslmode'), ['sslmode', 'verify-full']])
}
