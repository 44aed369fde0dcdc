import { inspect } from 'node:util'
import {
  AggregateAuthenticationError,
  AuthenticationError,
  AuthenticationRequiredError,
  CredentialUnavailableError,
} from '@azure/identity'
import { describe, expect, it } from 'vitest'
import { PgEntraError } from '../../src/errors/pg-entra-error.js'
import { redact } from '../../src/errors/redact.js'
import { classifyCredentialError } from '../../src/identity/classify-error.js'
import { fakeJwt } from './_jwt.js'

const secret = 'Sup3r~Secret.Value_42'
const context = { secrets: [secret], tenantId: 'tenant-1', clientId: 'client-1' }

function aadError(status: number, code: number, description: string) {
  return new AuthenticationError(status, {
    error: 'invalid_client',
    error_description: `AADSTS${code}: ${description}`,
    error_codes: [code],
  })
}

describe('classifyCredentialError', () => {
  it.each([
    [7000215, 'invalid client secret'],
    [7000222, 'expired'],
    [700016, 'application not found'],
    [90002, 'tenant not found'],
    [700027, 'assertion'],
    [700024, 'time range'],
    [70021, 'federated'],
    [500011, 'resource'],
    [53003, 'conditional access'],
  ])('AADSTS%i is CREDENTIAL_REJECTED and says what it means', (code, meaning) => {
    const error = classifyCredentialError(aadError(401, code, `something about ${secret}`), context)
    expect(error.code).toBe('CREDENTIAL_REJECTED')
    expect(error.message).toContain(`AADSTS${code}`)
    expect(error.message).toContain(meaning)
    expect(error.message).toContain('tenant tenant-1')
    expect(error.hint).toBeTruthy()
    expect(error.details.aadsts).toBe(`AADSTS${code}`)
  })

  it('finds an AADSTS code wrapped by AuthenticationRequiredError', () => {
    const wrapped = new AuthenticationRequiredError({
      scopes: ['s'],
      message: 'AADSTS7000215: Invalid client secret provided.',
    })
    expect(classifyCredentialError(wrapped, context).message).toContain('AADSTS7000215 invalid client secret')
  })

  it('treats 5xx, 429, timeouts and network errors as ENTRA_UNREACHABLE, with Retry-After', () => {
    const throttled = classifyCredentialError(
      Object.assign(new Error('Too many requests'), { statusCode: 429, headers: { 'retry-after': '7' } }),
      context,
    )
    expect(throttled.code).toBe('ENTRA_UNREACHABLE')
    expect(throttled.details.retryAfterMs).toBe(7000)
    expect(throttled.hint).toContain('shared cache')
    expect(classifyCredentialError(new AuthenticationError(503, 'oops'), context).code).toBe('ENTRA_UNREACHABLE')
    expect(
      classifyCredentialError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))
        .code,
    ).toBe('ENTRA_UNREACHABLE')
    const aborted = new Error('The operation was aborted')
    aborted.name = 'AbortError'
    expect(classifyCredentialError(aborted).code).toBe('ENTRA_UNREACHABLE')
  })

  it('explains endpoints_resolution_error with the CA hint', () => {
    const error = classifyCredentialError(
      new CredentialUnavailableError('endpoints_resolution_error: Endpoints cannot be resolved'),
      { ...context, authorityHost: 'https://127.0.0.1:9443' },
    )
    expect(error.code).toBe('ENTRA_UNREACHABLE')
    expect(error.message).toContain('https://127.0.0.1:9443')
    expect(error.hint).toContain('authorityCa')
    expect(error.hint).toContain('NODE_EXTRA_CA_CERTS')
  })

  it('maps CredentialUnavailableError to CREDENTIAL_UNAVAILABLE', () => {
    const error = classifyCredentialError(new CredentialUnavailableError('ManagedIdentityCredential: no endpoint'))
    expect(error.code).toBe('CREDENTIAL_UNAVAILABLE')
    expect(error.hint).toContain('AZURE_CLIENT_SECRET')
  })

  it('a chain in which every credential is unavailable is CREDENTIAL_UNAVAILABLE, though its managed identity names a network error', () => {
    const chain = new AggregateAuthenticationError(
      [
        new CredentialUnavailableError('EnvironmentCredential is unavailable. No underlying credential could be used.'),
        new CredentialUnavailableError('ManagedIdentityCredential: Network unreachable. Message: network_error'),
        new CredentialUnavailableError('Azure CLI could not be found.'),
      ],
      'ChainedTokenCredential authentication failed.',
    )
    const error = classifyCredentialError(chain)
    expect(error.code).toBe('CREDENTIAL_UNAVAILABLE')
    expect(error.message).toBe('no credential is available: none of the 3 credentials of the chain is set up here')
    // One credential that is unavailable and one that could not reach Entra: an outage, retried.
    const mixed = new AggregateAuthenticationError(
      [
        new CredentialUnavailableError('EnvironmentCredential is unavailable.'),
        new Error('connect ECONNREFUSED 127.0.0.1:1'),
      ],
      'ChainedTokenCredential authentication failed.',
    )
    expect(classifyCredentialError(mixed).code).toBe('ENTRA_UNREACHABLE')
  })

  it('returns a PgEntraError unchanged and anything else as TOKEN_UNAVAILABLE', () => {
    const given = new PgEntraError('CLOSED', 'closed')
    expect(classifyCredentialError(given)).toBe(given)
    expect(classifyCredentialError('weird').code).toBe('TOKEN_UNAVAILABLE')
  })

  it('never carries a secret or a token in message, hint, details or an inspected cause', () => {
    const token = fakeJwt({ oid: 'x' })
    const upstream = new Error(
      `AADSTS7000215 client_secret=${secret} body {"access_token":"${token}"} secret ${secret}`,
    )
    for (const error of [
      classifyCredentialError(upstream, context),
      classifyCredentialError(Object.assign(new Error(`boom ${secret} ${token}`), { statusCode: 503 }), context),
      classifyCredentialError(new Error(`boom ${secret} ${token}`), context),
    ]) {
      const printed = `${inspect(error, { depth: 10 })}\n${String(error)}\n${JSON.stringify(error)}\n${inspect(error.cause)}`
      expect(printed).not.toContain(secret)
      expect(printed).not.toContain(token)
    }
  })

  it('an Entra body echoing the secret percent-encoded, form-encoded, base64 or as a Basic credential leaks nothing', () => {
    const awkward = 'a b+c/d=e%f~g&h'
    const spelled = (value: string) => [
      value,
      encodeURIComponent(value),
      new URLSearchParams({ v: value }).toString().slice(2),
      Buffer.from(value).toString('base64'),
      Buffer.from(`client-1:${value}`).toString('base64'),
    ]
    for (const value of [secret, awkward]) {
      const body = {
        error: 'invalid_client',
        error_description: `AADSTS7000215: Invalid client secret. Request body: client_id=client-1&secret=${encodeURIComponent(value)} echo ${new URLSearchParams({ v: value }).toString()} auth Basic ${Buffer.from(`client-1:${value}`).toString('base64')} b64 ${Buffer.from(value).toString('base64')}`,
        error_codes: [7000215],
      }
      const error = classifyCredentialError(new AuthenticationError(401, body), { ...context, secrets: [value] })
      expect(error.code).toBe('CREDENTIAL_REJECTED')
      const printed = [inspect(error, { depth: 10 }), inspect(error.cause, { depth: 10 }), String(error)].join('\n')
      for (const form of spelled(value)) expect(printed).not.toContain(form)
    }
  })

  it('redacts tokens, known secrets and secret fields', () => {
    expect(redact(`a ${fakeJwt({ a: 1 })} b`)).toBe('a [jwt] b')
    expect(redact('client_secret=abc&x=1')).toBe('client_secret=[redacted]&x=1')
    expect(redact('pw hunter22', ['hunter22'])).toBe('pw [redacted]')
  })
})
