import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { closestName, editDistance } from '../../src/shared/did-you-mean.js'
import { thrown } from './_thrown.js'

const OPTIONS = [
  'credential',
  'tenantId',
  'clientId',
  'clientSecret',
  'certificatePath',
  'certificatePassword',
  'federatedTokenFile',
  'managedIdentity',
  'cloud',
  'scope',
  'authorityHost',
  'authorityCa',
  'refreshBeforeMinutes',
  'requestTimeoutMs',
  'allowUnverifiedTls',
  'cache',
  'logger',
]

/** Typos a person makes: two neighbours swapped, a letter dropped, one doubled, another case, snake_case. */
function typosOf(name: string): string[] {
  const mid = Math.floor(name.length / 2)
  return [
    name.slice(0, mid) + name[mid + 1] + name[mid] + name.slice(mid + 2),
    name.slice(0, mid) + name.slice(mid + 1),
    name.slice(0, mid) + name[mid] + name.slice(mid),
    name.toUpperCase(),
    name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
  ].filter((typo) => typo !== name)
}

describe('an unknown Entra option', () => {
  it('clientSecert: the message names it, the hint names clientSecret, the secret appears nowhere', () => {
    const error = thrown(() => entraAuth({ tenantId: 't', clientId: 'c', clientSecert: 's3cr3t-value' } as never))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toBe('unknown Entra option "clientSecert"')
    expect(error.hint).toBe('did you mean "clientSecret"?')
    expect(inspect(error)).not.toContain('s3cr3t-value')
  })

  it.each(OPTIONS)('a typo of %s is answered with "did you mean" that name', (name) => {
    for (const typo of typosOf(name)) {
      const error = thrown(() => entraAuth({ [typo]: 'x' } as never))
      expect(error.message, typo).toBe(`unknown Entra option "${typo}"`)
      expect(error.hint, typo).toBe(`did you mean "${name}"?`)
    }
  })

  it('an unrelated name gets the list of options, not a guess', () => {
    const error = thrown(() => entraAuth({ database: 'app' } as never))
    expect(error.hint).not.toContain('did you mean')
    expect(error.hint).toContain('known options: credential, tenantId')
    expect(error.hint).not.toMatch(/\bclock\b|\brandom\b/)
  })
})

describe('closestName', () => {
  it('counts a swap of neighbours as one edit, and ignores case, _ and -', () => {
    expect(editDistance('clientsecert', 'clientsecret')).toBe(1)
    expect(editDistance('kitten', 'sitting')).toBe(3)
    expect(closestName('TENANT_ID', OPTIONS)).toBe('tenantId')
    expect(closestName('tenant-id', OPTIONS)).toBe('tenantId')
  })

  it('suggests nothing further than two edits, or one for short names', () => {
    expect(closestName('clientSecretValue', OPTIONS)).toBeUndefined()
    expect(closestName('user', ['uses'])).toBe('uses')
    expect(
      closestName(
        'user',
        ['used', 'usrs'].map((n) => `${n}x`),
      ),
    ).toBeUndefined()
  })
})
