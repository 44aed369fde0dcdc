import { describe, expect, it } from 'vitest'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'
import { clouds, isMicrosoftAuthority, resolveCloud } from '../../src/identity/cloud.js'

describe('resolveCloud', () => {
  it('maps each cloud to its authority host and scope', () => {
    expect(resolveCloud({})).toEqual({ cloud: 'public', ...clouds.public, microsoftAuthority: true })
    expect(resolveCloud({ cloud: 'china' }).scope).toBe('https://ossrdbms-aad.database.chinacloudapi.cn/.default')
    expect(resolveCloud({ cloud: 'china' }).authorityHost).toBe('https://login.chinacloudapi.cn')
    expect(resolveCloud({ cloud: 'usgov' }).scope).toBe('https://ossrdbms-aad.database.usgovcloudapi.net/.default')
    expect(resolveCloud({ cloud: 'usgov' }).authorityHost).toBe('https://login.microsoftonline.us')
  })

  it('lets scope and authorityHost override the cloud; a foreign authority is not Microsoft', () => {
    const resolved = resolveCloud({
      cloud: 'china',
      scope: 'api://x/.default',
      authorityHost: 'https://127.0.0.1:8443/',
    })
    expect(resolved).toEqual({
      cloud: 'china',
      scope: 'api://x/.default',
      authorityHost: 'https://127.0.0.1:8443',
      microsoftAuthority: false,
    })
  })

  it('takes AZURE_AUTHORITY_HOST when no option is given, and the option over it', () => {
    expect(resolveCloud({}, 'https://localhost:9000').authorityHost).toBe('https://localhost:9000')
    expect(resolveCloud({ authorityHost: 'login.microsoftonline.us' }, 'https://localhost:9000').authorityHost).toBe(
      'https://login.microsoftonline.us',
    )
  })

  it('refuses an http authority, naming the option', () => {
    const error = (() => {
      try {
        resolveCloud({ authorityHost: 'http://127.0.0.1:8080' })
      } catch (e) {
        return e
      }
    })()
    expect(isPgEntraError(error) && error.code).toBe('INVALID_OPTION')
    expect(isPgEntraError(error) && error.details.option).toBe('authorityHost')
    expect(() => resolveCloud({}, 'http://x')).toThrow(/AZURE_AUTHORITY_HOST must use https/)
  })

  it('knows Microsoft hosts only on the default port over https', () => {
    expect(isMicrosoftAuthority('https://login.microsoftonline.com')).toBe(true)
    expect(isMicrosoftAuthority('https://LOGIN.chinacloudapi.cn/')).toBe(true)
    expect(isMicrosoftAuthority('https://login.microsoftonline.com:8443')).toBe(false)
    expect(isMicrosoftAuthority('https://login.microsoftonline.com.evil.example')).toBe(false)
    expect(isMicrosoftAuthority('not a url')).toBe(false)
  })
})
