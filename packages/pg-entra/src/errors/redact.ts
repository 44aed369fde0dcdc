/**
 * The one place that takes secrets out of text before it is printed: error messages, stacks, causes, warning reasons.
 * Two kinds of secret are removed: what has a recognisable shape (a JWT, a URL's password, a secret-named field), and
 * the known secrets a caller names, in every spelling an upstream library may print them in.
 */

/** A client id and its secret: HTTP Basic authentication sends them together, base64-encoded, as `id:secret`. */
export interface SecretPair {
  id: string
  secret: string
}

export type Secret = string | SecretPair | undefined | null

export const REDACTED = '[redacted]'
export const REDACTED_TOKEN = '[jwt]'

/** Shorter known secrets are not searched for: they would match ordinary words. */
const MIN_SECRET_LENGTH = 4
/** A base64 run of the secret's inner bytes shorter than this is not searched for (too likely by chance). */
const MIN_BASE64_CORE_BYTES = 6
const MAX_DEPTH = 5
const SUMMARY_LENGTH = 200

const jwtPattern = /eyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]*/g
/** `scheme://user:password@host` in any scheme: the password goes, the user and host stay. */
const urlPasswordPattern = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"'<>]*:)([^\s/?#"'<>]*)@/gi
/** `Authorization: Bearer x` / `Basic x`, in headers or in an inspected headers object. */
const authorizationPattern = /(authorization["']?\s*[:=]\s*["']?(?:bearer|basic)\s+)[\w.~+/=-]+/gi
const fieldName = String.raw`\b(?:[\w-]*(?:secret|password|passwd|pwd|_token|Token)|token|client_assertion|assertion)`
const quoted = String.raw`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\\"(?:[^"\\]|\\[^"])*\\"`
/** `password=x`, `client_secret=x&`, `password='x y'`: query strings, form bodies and key=value text. */
const assignedFieldPattern = new RegExp(String.raw`(${fieldName}\s*=\s*)(${quoted}|[^\s&,;"'}\])]+)`, 'gi')
/**
 * `"access_token": "x"`, `{ token: 'x' }`: JSON and inspected objects. After a colon only a quoted value is taken, so
 * that prose ("could not get a token: AADSTS...") keeps its words.
 */
const quotedFieldPattern = new RegExp(String.raw`(${fieldName}(?:\\?["'])?\s*:\s*)(${quoted})`, 'gi')

/**
 * `text` without JWTs, URL passwords, secret-named fields (password, client_secret, access_token, refresh_token,
 * client_assertion...) and without the given secrets: raw, percent-encoded (either form of a space, either case of
 * hex), JSON-escaped, base64 and base64url (also inside a longer base64 text, such as a Basic credential), and for a
 * `{ id, secret }` pair the Basic credential itself.
 */
export function redact(text: string, secrets: readonly Secret[] = []): string {
  let out = text
  for (const form of secretForms(secrets)) if (out.includes(form)) out = out.split(form).join(REDACTED)
  return out
    .replace(jwtPattern, REDACTED_TOKEN)
    .replace(urlPasswordPattern, `$1${REDACTED}@`)
    .replace(authorizationPattern, `$1${REDACTED}`)
    .replace(assignedFieldPattern, (_match, name: string, value: string) => `${name}${quoteLike(value)}`)
    .replace(quotedFieldPattern, (_match, name: string, value: string) => `${name}${quoteLike(value)}`)
}

/** The redaction mark, inside the same quotes as the value it replaces. */
function quoteLike(value: string): string {
  if (value.startsWith('\\"')) return `\\"${REDACTED}\\"`
  const quote = value[0]
  return quote === '"' || quote === "'" ? `${quote}${REDACTED}${quote}` : REDACTED
}

/** Every spelling of every secret, longest first (so that a longer spelling is not cut by a shorter one inside it). */
function secretForms(secrets: readonly Secret[]): string[] {
  const forms = new Set<string>()
  for (const secret of secrets) {
    if (typeof secret === 'string') {
      for (const form of spellings(secret)) forms.add(form)
    } else if (secret && typeof secret.secret === 'string') {
      for (const form of spellings(secret.secret)) forms.add(form)
      if (typeof secret.id === 'string' && secret.secret.length >= MIN_SECRET_LENGTH) {
        // RFC 6749 2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
        for (const pair of [`${secret.id}:${secret.secret}`, `${formEncode(secret.id)}:${formEncode(secret.secret)}`]) {
          const bytes = Buffer.from(pair, 'utf8')
          forms.add(bytes.toString('base64'))
          forms.add(bytes.toString('base64url'))
        }
      }
    }
  }
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length)
}

function spellings(secret: string): string[] {
  if (secret.length < MIN_SECRET_LENGTH) return []
  const percent = encodeURIComponent(secret)
  const form = formEncode(secret)
  const bytes = Buffer.from(secret, 'utf8')
  return [
    secret,
    percent,
    lowerHex(percent),
    form,
    lowerHex(form),
    encodeURI(secret),
    JSON.stringify(secret).slice(1, -1),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    ...base64Cores(bytes),
  ]
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2)
}

function lowerHex(encoded: string): string {
  return encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase())
}

/**
 * Inside a longer base64 text the secret starts at one of three byte offsets within a 3-byte group, and only its
 * bytes from the next group boundary on are spelled the same way every time: those runs, for each offset, in both
 * alphabets. Redacting them leaves at most two bytes of the secret's edges, spread over partial characters.
 */
function base64Cores(bytes: Buffer): string[] {
  const cores: string[] = []
  for (let start = 0; start < 3; start++) {
    const length = Math.floor((bytes.length - start) / 3) * 3
    if (length < MIN_BASE64_CORE_BYTES) continue
    const core = bytes.subarray(start, start + length)
    cores.push(core.toString('base64'), core.toString('base64url'))
  }
  return cores
}

interface ErrorLike {
  name?: unknown
  message?: unknown
  stack?: unknown
  code?: unknown
  errorCode?: unknown
  errno?: unknown
  syscall?: unknown
  severity?: unknown
  detail?: unknown
  input?: unknown
  status?: unknown
  statusCode?: unknown
  errors?: unknown
  cause?: unknown
}

/** Fields of an upstream error worth keeping on its copy; `message`, `stack`, `cause` and `errors` are handled apart. */
const keptFields = [
  'code',
  'errorCode',
  'errno',
  'syscall',
  'severity',
  'detail',
  'input',
  'status',
  'statusCode',
] as const

/**
 * A copy of `error` that is safe to print or keep as a `cause`: its name, its code, status and similar facts, its
 * message and stack redacted, and redacted copies of its causes and of an AggregateError's errors (a few levels
 * deep). Nothing else of the upstream object is kept: a client's error may carry the connection options or the
 * command it sent.
 */
export function redactedCopy(error: unknown, secrets: readonly Secret[] = [], depth = 0): Error {
  if (typeof error !== 'object' || error === null) {
    return new Error(redact(error === undefined ? 'unknown error' : String(error), secrets))
  }
  const e = error as ErrorLike
  const message = typeof e.message === 'string' ? e.message : ''
  const copy = new Error(redact(message, secrets) || 'unknown error') as Error & Record<string, unknown>
  copy.name = typeof e.name === 'string' ? e.name : 'Error'
  copy.stack =
    typeof e.stack === 'string' && e.stack !== '' ? redact(e.stack, secrets) : `${copy.name}: ${copy.message}`
  for (const field of keptFields) {
    const value = e[field]
    if (typeof value === 'number' || typeof value === 'boolean') copy[field] = value
    else if (typeof value === 'string') copy[field] = redact(value, secrets)
  }
  if (depth < MAX_DEPTH) {
    if (Array.isArray(e.errors)) copy.errors = e.errors.map((inner) => redactedCopy(inner, secrets, depth + 1))
    if (e.cause !== undefined) {
      Object.defineProperty(copy, 'cause', {
        value: redactedCopy(e.cause, secrets, depth + 1),
        enumerable: false,
        writable: true,
        configurable: true,
      })
    }
  }
  return copy
}

/**
 * One line about `reason`, at most 200 characters, redacted: `code: message` (or `name: message`) for an error, the
 * text for a string. For a `details.reason`, where a whole `cause` would be too much to keep.
 */
export function summarize(reason: unknown, secrets: readonly Secret[] = []): string {
  let text: string
  if (reason instanceof Error || (typeof reason === 'object' && reason !== null && 'message' in reason)) {
    const e = reason as ErrorLike
    const message = typeof e.message === 'string' ? e.message : ''
    if (typeof e.code === 'string') text = message.includes(e.code) ? message : `${e.code}: ${message}`
    else text = `${typeof e.name === 'string' ? e.name : 'Error'}: ${message}`
  } else {
    text = typeof reason === 'string' ? reason : 'unknown error'
  }
  const line =
    redact(text, secrets)
      .split('\n')
      .find((part) => part.trim() !== '') ?? ''
  return line.length > SUMMARY_LENGTH ? `${line.slice(0, SUMMARY_LENGTH - 1)}…` : line
}
