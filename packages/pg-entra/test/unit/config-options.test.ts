import { describe, expect, it } from 'vitest'
import { validateEntraAuthOptions } from '../../src/auth/options.js'
import { thrown } from './_thrown.js'

const credential = { getToken: async () => null }

describe('validateEntraAuthOptions', () => {
  it('accepts nothing, {} and each identity alone', () => {
    expect(validateEntraAuthOptions(undefined)).toEqual({})
    expect(validateEntraAuthOptions({})).toEqual({})
    for (const options of [
      { credential },
      { tenantId: 't', clientId: 'c', clientSecret: 's' },
      { tenantId: 't', clientId: 'c', certificatePath: '/c.pem', certificatePassword: '' },
      { tenantId: 't', clientId: 'c', federatedTokenFile: '/f' },
      { managedIdentity: true },
      { managedIdentity: { clientId: 'c' } },
      { managedIdentity: { resourceId: '/sub/x' } },
      { managedIdentity: { objectId: 'o' } },
      {
        cloud: 'usgov',
        scope: 's',
        authorityHost: 'https://h',
        authorityCa: Buffer.from('x'),
        refreshBeforeMinutes: 0,
        requestTimeoutMs: 5_000,
      },
    ]) {
      expect(validateEntraAuthOptions(options)).toBe(options)
    }
  })

  it('names an unknown option and suggests the near one', () => {
    const error = thrown(() => validateEntraAuthOptions({ client_secret: 'x' }))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toBe('unknown Entra option "client_secret"')
    expect(error.hint).toContain('"clientSecret"')
    expect(error.details.option).toBe('client_secret')
  })

  it.each([
    ['tenantId', 42, 'a non-empty string'],
    ['clientSecret', '', 'a non-empty string'],
    ['cloud', 'mars', "'public', 'china' or 'usgov'"],
    ['refreshBeforeMinutes', -1, 'a number of minutes'],
    ['refreshBeforeMinutes', Number.NaN, 'a number of minutes'],
    ['credential', {}, 'getToken()'],
    ['managedIdentity', { clientId: 'a', objectId: 'b' }, 'exactly one'],
    ['managedIdentity', { name: 'a' }, 'got "name"'],
    ['managedIdentity', false, 'true, { clientId }'],
    ['requestTimeoutMs', 0, 'a number of milliseconds from 1 to 600000'],
    ['requestTimeoutMs', '5000', 'a number of milliseconds'],
    ['allowUnverifiedTls', 'yes', 'true or false'],
    ['cache', { get() {} }, 'set()'],
  ])('rejects %s = %o naming it', (option, value, expected) => {
    const error = thrown(() => validateEntraAuthOptions({ [option]: value }))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toContain(`option ${option} must be`)
    expect(error.message).toContain(expected)
    expect(error.details.option).toBe(option)
  })

  it('never echoes a value, only its type', () => {
    const error = thrown(() => validateEntraAuthOptions({ clientSecret: ['hunter2-secret'] }))
    expect(error.message).not.toContain('hunter2')
    expect(error.message).toContain('an array')
  })

  it.each([
    [{ credential, clientSecret: 's' }, 'clientSecret', 'credential and clientSecret'],
    [{ managedIdentity: true, clientSecret: 's' }, 'clientSecret', 'managedIdentity and clientSecret'],
    [{ clientSecret: 's', certificatePath: '/c' }, 'certificatePath', 'clientSecret and certificatePath'],
    [
      { certificatePath: '/c', federatedTokenFile: '/f' },
      'federatedTokenFile',
      'certificatePath and federatedTokenFile',
    ],
  ])('rejects conflicting identities %o', (options, option, message) => {
    const error = thrown(() => validateEntraAuthOptions(options))
    expect(error.message).toContain(`conflicting identities: ${message}`)
    expect(error.details.option).toBe(option)
  })

  it('rejects options that have no effect with the chosen identity', () => {
    expect(thrown(() => validateEntraAuthOptions({ credential, tenantId: 't' })).details.option).toBe('tenantId')
    const mi = thrown(() => validateEntraAuthOptions({ managedIdentity: true, clientId: 'c' }))
    expect(mi.details.option).toBe('clientId')
    expect(mi.hint).toContain('managedIdentity: { clientId }')
    expect(thrown(() => validateEntraAuthOptions({ certificatePassword: 'p' })).details.option).toBe(
      'certificatePassword',
    )
    expect(thrown(() => validateEntraAuthOptions('x')).details.option).toBe('entra')
  })
})
