// Generated secrets and tokens, embedded in upstream messages in every spelling a library may print them in, never
// survive redact(), redactedCopy() (util.inspect of it, causes included), summarize(), nor util.inspect / String /
// JSON of a PgEntraError whose cause is the raw upstream error.
import { inspect } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PgEntraError } from '../../src/errors/pg-entra-error.js'
import { redact, redactedCopy, type SecretPair, summarize } from '../../src/errors/redact.js'

/** Secrets as Entra issues them, and as users may type them (any printable text, spaces and quotes included). */
const secretArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9~._-]{24,40}$/),
  fc
    .string({ unit: 'grapheme', minLength: 16, maxLength: 40 })
    .filter((s) => s.trim() === s && new Set(s).size >= 10 && !s.includes('\0')),
)
const clientIdArb = fc.uuid()
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const tokenArb = fc
  .tuple(
    fc.record({ oid: fc.uuid(), tid: fc.uuid(), aud: fc.constant('https://ossrdbms-aad.database.windows.net') }),
    fc.stringMatching(/^[A-Za-z0-9_-]{43,342}$/),
  )
  .map(([claims, signature]) => `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.${signature}`)
/** Text around the secret: anything printable but the characters that would glue it to a secret-field value. */
const proseArb = fc.string({ maxLength: 40 }).map((text) => text.replace(/[\s\w=:&"'%+/.~-]/g, ' '))

const form = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)

/** How an upstream library may print a known secret, given the client id it belongs to. */
const secretEmbeddings: Record<string, (secret: string, id: string, pad: string) => string> = {
  raw: (s) => s,
  percent: (s) => encodeURIComponent(s),
  percentLowerHex: (s) => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
  formBody: (s, id) => `grant_type=client_credentials&client_id=${id}&client_secret=${form(s)}&scope=x`,
  json: (s) => JSON.stringify({ error: 'invalid_client', client_secret: s }),
  base64: (s) => Buffer.from(s).toString('base64'),
  base64url: (s) => Buffer.from(s).toString('base64url'),
  basic: (s, id) => `Authorization: Basic ${Buffer.from(`${id}:${s}`).toString('base64')}`,
  basicFormEncoded: (s, id) => `authorization=Basic ${Buffer.from(`${form(id)}:${form(s)}`).toString('base64')}`,
  insideBase64: (s, _id, pad) => Buffer.from(`${pad}${s}${pad}`).toString('base64'),
  urlPassword: (s) => `postgres://app:${encodeURIComponent(s)}@db.example:5432/postgres?sslmode=verify-full`,
  keyValue: (s) => `host=db.example password='${s.replace(/['\\]/g, (c) => `\\${c}`)}' user=app`,
}

/** How a token may be printed by a library that does not know it is one. */
const tokenEmbeddings: Record<string, (token: string) => string> = {
  raw: (t) => t,
  bearer: (t) => `authorization: Bearer ${t}`,
  json: (t) => JSON.stringify({ access_token: t, token_type: 'Bearer' }),
  jsonInString: (t) => JSON.stringify(JSON.stringify({ refresh_token: t })),
  query: (t) => `https://x.example/?access_token=${encodeURIComponent(t)}&x=1`,
  urlPassword: (t) => `postgresql://app:${t}@db.example/postgres`,
  inspected: (t) => inspect({ token: t, expiresOnTimestamp: 1 }),
  serverRefusal: (t) => `password authentication failed for user "app" (password "${t}")`,
}

/** Spellings that must not appear: the secret, percent-encoded (both forms, either case), base64 and base64url, and Basic. */
function spellings(secret: string, id: string): string[] {
  const bytes = Buffer.from(secret)
  const forms = [
    secret,
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
    form(secret),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    Buffer.from(`${id}:${secret}`).toString('base64'),
    Buffer.from(`${form(id)}:${form(secret)}`).toString('base64'),
  ]
  return [...new Set(forms)].filter((f) => f.length >= 8)
}

/**
 * An oracle independent of the redactor: any base64 or base64url run in `text`, decoded at each of its 4 character
 * offsets, must not hold the secret's bytes (less two at each edge, which may share characters with the padding).
 */
function hidesInBase64(text: string, secret: string): boolean {
  const bytes = Buffer.from(secret)
  const inner = bytes.subarray(2, bytes.length - 2)
  if (inner.length < 6) return false
  for (const run of text.match(/[A-Za-z0-9+/_-]{8,}/g) ?? []) {
    for (let offset = 0; offset < 4; offset++) {
      const part = run.slice(offset)
      for (const encoding of ['base64', 'base64url'] as const) {
        if (Buffer.from(part, encoding).includes(inner)) return true
      }
    }
  }
  return false
}

function leakOf(text: string, secret: string, id: string): string | undefined {
  const seen = spellings(secret, id).find((f) => text.includes(f))
  if (seen !== undefined) return `spelling ${JSON.stringify(seen)}`
  if (hidesInBase64(text, secret)) return 'a base64 run holding the secret'
  return undefined
}

/** The token and the parts that make it a credential (its signature; the claims are a second giveaway). */
function tokenLeak(text: string, token: string): string | undefined {
  const [, payload, signature] = token.split('.')
  return [token, signature!, payload!].find((part) => text.includes(part))
}

const embeddingArb = fc.constantFrom(...Object.keys(secretEmbeddings))
const tokenEmbeddingArb = fc.constantFrom(...Object.keys(tokenEmbeddings))
const padArb = fc.constantFrom('', 'a', 'ab')

function upstreamError(message: string, inner: string): Error {
  const cause = Object.assign(new Error(`request failed: ${inner}`), { code: 'invalid_client', statusCode: 401 })
  const error = new Error(message, { cause }) as Error & { errors?: unknown[] }
  error.errors = [new Error(inner)]
  return error
}

describe('redaction: no generated secret or token survives', () => {
  it('redact() removes known secrets in every spelling, with the client id known', () => {
    fc.assert(
      fc.property(
        secretArb,
        clientIdArb,
        embeddingArb,
        padArb,
        proseArb,
        proseArb,
        (secret, id, how, pad, before, after) => {
          const text = `${before}${secretEmbeddings[how]!(secret, id, pad)}${after}`
          const secrets: (string | SecretPair)[] = [secret, { id, secret }]
          const out = redact(text, secrets)
          expect(leakOf(out, secret, id), `${how}: ${out}`).toBeUndefined()
          expect(leakOf(summarize(new Error(text), secrets), secret, id)).toBeUndefined()
        },
      ),
      { numRuns: 600 },
    )
  })

  it('redact() removes tokens by their shape, without being told them', () => {
    fc.assert(
      fc.property(tokenArb, tokenEmbeddingArb, proseArb, proseArb, (token, how, before, after) => {
        const out = redact(`${before}${tokenEmbeddings[how]!(token)}${after}`)
        expect(tokenLeak(out, token), `${how}: ${out}`).toBeUndefined()
      }),
      { numRuns: 400 },
    )
  })

  it('redactedCopy() and a PgEntraError over the raw error print neither, causes and aggregates included', () => {
    fc.assert(
      fc.property(
        secretArb,
        clientIdArb,
        tokenArb,
        embeddingArb,
        tokenEmbeddingArb,
        padArb,
        (secret, id, token, how, tokenHow, pad) => {
          const secretText = secretEmbeddings[how]!(secret, id, pad)
          const tokenText = tokenEmbeddings[tokenHow]!(token)
          const raw = upstreamError(`Entra said ${secretText} then ${tokenText}`, `${tokenText} / ${secretText}`)
          const copy = redactedCopy(raw, [secret, { id, secret }])
          const wrapped = new PgEntraError('TOKEN_REFUSED', `the server refused the token: ${tokenText}`, {
            cause: raw,
            hint: 'get a new token',
            details: { reason: tokenText },
          })
          for (const printed of [
            inspect(copy, { depth: 10 }),
            String(copy.stack),
            inspect(wrapped, { depth: 10 }),
            String(wrapped),
            JSON.stringify(wrapped),
            inspect({ error: wrapped }, { depth: 10 }),
          ]) {
            expect(tokenLeak(printed, token), printed).toBeUndefined()
            expect(leakOf(printed, secret, id), printed).toBeUndefined()
          }
          // The copy keeps what helps: the shape of the chain, the codes.
          expect((copy.cause as { code?: unknown }).code).toBe('invalid_client')
          expect((copy as { errors?: unknown[] }).errors).toHaveLength(1)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('keeps the user and host of a URL, the field names, and prose around a colon', () => {
    expect(redact('connect postgres://app:s3cret@db.example:5432/postgres')).toBe(
      'connect postgres://app:[redacted]@db.example:5432/postgres',
    )
    expect(redact('mysql+ssl://u:p%40ss@h/x and https://h:443/p')).toBe(
      'mysql+ssl://u:[redacted]@h/x and https://h:443/p',
    )
    expect(redact('{"client_assertion":"abc.def","x":1}')).toBe('{"client_assertion":"[redacted]","x":1}')
    expect(redact("password='a b\\' c' host=h")).toBe("password='[redacted]' host=h")
    expect(redact('could not get a token: AADSTS7000215 bad secret')).toBe(
      'could not get a token: AADSTS7000215 bad secret',
    )
    expect(redact('short xy', ['xy'])).toBe('short xy')
  })

  it('summarize() is one line of at most 200 characters', () => {
    const line = summarize(Object.assign(new Error(`${'x'.repeat(300)}\nsecond`), { code: 'E_X' }))
    expect(line.startsWith('E_X: x')).toBe(true)
    expect(line.length).toBeLessThanOrEqual(200)
    expect(line).not.toContain('second')
    expect(summarize('plain')).toBe('plain')
    expect(summarize(new Error('ECONNREFUSED 127.0.0.1:1'))).toBe('Error: ECONNREFUSED 127.0.0.1:1')
  })
})
