/** An unsigned JWT with `claims`, shaped like an Entra access token (pg-entra only reads claims). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ typ: 'JWT', alg: 'RS256', kid: 'test' })}.${part(claims)}.c2lnbmF0dXJl`
}
