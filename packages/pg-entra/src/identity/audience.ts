import { PgEntraError } from '../errors/pg-entra-error.js'
import { decodeJwtPayload } from './claims.js'

/** App ids of the resources pg-entra's clouds name: a v2 token carries one of these as `aud` instead of the URI. */
const resourceAppIds: Readonly<Record<string, string>> = Object.freeze({
  // "Azure OSSRDBMS Database", the first-party app behind Azure Database for PostgreSQL and MySQL.
  'https://ossrdbms-aad.database.windows.net': '123cd850-d9df-40bd-94d5-c9f07b7fa203',
  'https://ossrdbms-aad.database.chinacloudapi.cn': '123cd850-d9df-40bd-94d5-c9f07b7fa203',
  'https://ossrdbms-aad.database.usgovcloudapi.net': '123cd850-d9df-40bd-94d5-c9f07b7fa203',
})

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const withoutTrailingSlash = (value: string): string => value.replace(/\/+$/, '')

/** The resource a scope asks for: `https://x/.default` -> `https://x`; a bare resource stays as it is. */
export function resourceOfScope(scope: string): string {
  return withoutTrailingSlash(scope.trim().replace(/\/\.default$/, ''))
}

/** The `aud` values a token for `scope` may carry, compared without a trailing slash. */
export function expectedAudiences(scope: string): string[] {
  const resource = resourceOfScope(scope)
  const appId = resourceAppIds[resource.toLowerCase()] ?? /^(?:api:\/\/)?([0-9a-f-]{36})$/i.exec(resource)?.[1]
  return [...new Set([resource, ...(appId ? [appId, `api://${appId}`] : [])])]
}

/**
 * Whether a token's `aud` claim (a string or an array of strings) names the resource of `scope`. An app-id `aud`
 * (a v2 token) is accepted when the resource's app id is not known here: pg-entra cannot tell it is wrong.
 */
export function audienceMatches(aud: unknown, scope: string): boolean {
  const audiences = (Array.isArray(aud) ? aud : [aud]).filter((value): value is string => typeof value === 'string')
  if (audiences.length === 0) return true
  const expected = expectedAudiences(scope).map((value) => value.toLowerCase())
  const appIdKnown = expected.some((value) => guidPattern.test(value))
  return audiences.some((value) => {
    const seen = withoutTrailingSlash(value).toLowerCase()
    return expected.includes(seen) || (!appIdKnown && guidPattern.test(seen))
  })
}

/**
 * The error for a token issued for another resource than `scope` names (TOKEN_UNAVAILABLE, naming both audiences,
 * never the token), or undefined when the audience is right. Tokens that are not JWTs, or carry no `aud`, pass: only
 * the database can judge them.
 */
export function wrongAudienceError(token: string, scope: string): PgEntraError | undefined {
  let aud: unknown
  try {
    aud = decodeJwtPayload(token).aud
  } catch {
    return undefined
  }
  if (audienceMatches(aud, scope)) return undefined
  const got = (Array.isArray(aud) ? aud : [aud]).map(String).join(', ')
  const expected = resourceOfScope(scope)
  return new PgEntraError('TOKEN_UNAVAILABLE', `the credential returned a token for ${got}, not for ${expected}`, {
    hint:
      `a token for the database has the audience (aud) ${expected}: check scope / cloud; ` +
      'pg-entra keeps serving the last valid token and asks again with backoff',
    details: { audience: got, expectedAudience: expected, scope },
  })
}
