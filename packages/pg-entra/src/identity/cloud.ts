import { PgEntraError } from '../errors/pg-entra-error.js'

export type CloudName = 'public' | 'china' | 'usgov'

export interface CloudSettings {
  authorityHost: string
  scope: string
}

export const clouds: Readonly<Record<CloudName, CloudSettings>> = Object.freeze({
  public: {
    authorityHost: 'https://login.microsoftonline.com',
    scope: 'https://ossrdbms-aad.database.windows.net/.default',
  },
  china: {
    authorityHost: 'https://login.chinacloudapi.cn',
    scope: 'https://ossrdbms-aad.database.chinacloudapi.cn/.default',
  },
  usgov: {
    authorityHost: 'https://login.microsoftonline.us',
    scope: 'https://ossrdbms-aad.database.usgovcloudapi.net/.default',
  },
})

/** Hosts MSAL knows (its instance discovery answers for these); any other authority needs discovery turned off. */
const microsoftAuthorityHosts = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login-us.microsoftonline.com',
  'login.microsoftonline.de',
])

export interface ResolvedCloud {
  cloud: CloudName
  /** `https://host[:port]`, no trailing slash. */
  authorityHost: string
  scope: string
  /** false for an authority MSAL cannot discover (an emulator, a proxy): instance discovery must be off. */
  microsoftAuthority: boolean
}

export function isMicrosoftAuthority(authorityHost: string): boolean {
  try {
    const url = new URL(authorityHost)
    return url.protocol === 'https:' && url.port === '' && microsoftAuthorityHosts.has(url.hostname.toLowerCase())
  } catch {
    return false
  }
}

export interface CloudOptions {
  cloud?: CloudName | undefined
  scope?: string | undefined
  authorityHost?: string | undefined
}

/** The cloud's authority and scope with `scope` and `authorityHost` applied; `fallbackAuthorityHost` is AZURE_AUTHORITY_HOST. */
export function resolveCloud(options: CloudOptions, fallbackAuthorityHost?: string): ResolvedCloud {
  const cloud = options.cloud ?? 'public'
  const settings = clouds[cloud]
  if (!settings) {
    throw new PgEntraError(
      'INVALID_OPTION',
      `cloud "${String(cloud)}" is not one of ${Object.keys(clouds).join(', ')}`,
      {
        hint: "set cloud to 'public', 'china' or 'usgov', or give authorityHost and scope",
        details: { option: 'cloud' },
      },
    )
  }
  const optionName = options.authorityHost !== undefined ? 'authorityHost' : 'AZURE_AUTHORITY_HOST'
  const given = options.authorityHost ?? (fallbackAuthorityHost || undefined)
  const authorityHost = given === undefined ? settings.authorityHost : normalizeAuthorityHost(given, optionName)
  const scope = options.scope ?? settings.scope
  return { cloud, authorityHost, scope, microsoftAuthority: isMicrosoftAuthority(authorityHost) }
}

function normalizeAuthorityHost(value: string, optionName: string): string {
  let url: URL
  try {
    url = new URL(value.includes('://') ? value : `https://${value}`)
  } catch {
    throw new PgEntraError('INVALID_OPTION', `${optionName} "${value}" is not a URL`, {
      hint: `set ${optionName} to an https URL such as https://login.microsoftonline.com`,
      details: { option: optionName },
    })
  }
  if (url.protocol !== 'https:') {
    throw new PgEntraError('INVALID_OPTION', `${optionName} must use https (got ${url.protocol})`, {
      hint: `@azure/identity refuses a plain-http authority; serve it over https and pass its CA as authorityCa`,
      details: { option: optionName },
    })
  }
  return url.origin
}
