import { PgEntraError } from '../errors/pg-entra-error.js'
import { closestName } from '../shared/did-you-mean.js'
import type { EntraAuthOptions } from './types.js'

type Check = (value: unknown) => string | undefined

const nonEmptyString: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'a non-empty string')
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'true or false')
const fn: Check = (v) => (typeof v === 'function' ? undefined : 'a function')
const withMethods =
  (...methods: string[]): Check =>
  (v) =>
    typeof v === 'object' && v !== null && methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function')
      ? undefined
      : `an object with ${methods.map((m) => `${m}()`).join(' and ')}`

const checks: Record<keyof EntraAuthOptions, Check> = {
  credential: withMethods('getToken'),
  tenantId: nonEmptyString,
  clientId: nonEmptyString,
  clientSecret: nonEmptyString,
  certificatePath: nonEmptyString,
  certificatePassword: (v) => (typeof v === 'string' ? undefined : 'a string'),
  federatedTokenFile: nonEmptyString,
  managedIdentity: (v) => {
    if (v === true) return undefined
    const expected = 'true, { clientId }, { resourceId } or { objectId }'
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return expected
    const entries = Object.entries(v).filter(([, value]) => value !== undefined)
    if (entries.length !== 1) return `${expected} (exactly one of them)`
    const [key, value] = entries[0]!
    if (!['clientId', 'resourceId', 'objectId'].includes(key)) return `${expected} (got "${key}")`
    return nonEmptyString(value) ? `${expected} with a non-empty string` : undefined
  },
  cloud: (v) => (v === 'public' || v === 'china' || v === 'usgov' ? undefined : "'public', 'china' or 'usgov'"),
  scope: nonEmptyString,
  authorityHost: nonEmptyString,
  authorityCa: (v) => (typeof v === 'string' || Buffer.isBuffer(v) ? undefined : 'a PEM string or Buffer'),
  refreshBeforeMinutes: (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 24 * 60
      ? undefined
      : 'a number of minutes from 0 to 1440',
  requestTimeoutMs: (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 1 && v <= 10 * 60_000
      ? undefined
      : 'a number of milliseconds from 1 to 600000',
  allowUnverifiedTls: boolean,
  cache: withMethods('get', 'set'),
  logger: (v) => (typeof v === 'object' && v !== null ? undefined : 'an object with debug/info/warn/error methods'),
  telemetry: (v) => {
    const expected = 'false or { meterProvider?, tracerProvider? }'
    if (v === false) return undefined
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return expected
    const { meterProvider, tracerProvider, ...rest } = v as Record<string, unknown>
    if (Object.keys(rest).length > 0) return `${expected} (got "${Object.keys(rest)[0]}")`
    if (meterProvider !== undefined && withMethods('getMeter')(meterProvider)) return `${expected} with a MeterProvider`
    if (tracerProvider !== undefined && withMethods('getTracer')(tracerProvider))
      return `${expected} with a TracerProvider`
    return undefined
  },
  clock: withMethods('now', 'setTimer'),
  random: fn,
}

const knownKeys = Object.keys(checks) as (keyof EntraAuthOptions)[]

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}

function invalid(option: string, message: string, hint: string): PgEntraError {
  return new PgEntraError('INVALID_OPTION', message, { hint, details: { option } })
}

/** Ways of saying who the identity is; at most one may be given. */
const identityGroups: { name: string; keys: (keyof EntraAuthOptions)[] }[] = [
  { name: 'credential', keys: ['credential'] },
  { name: 'managedIdentity', keys: ['managedIdentity'] },
  { name: 'clientSecret', keys: ['clientSecret'] },
  { name: 'certificatePath', keys: ['certificatePath'] },
  { name: 'federatedTokenFile', keys: ['federatedTokenFile'] },
]

/**
 * Validates options up front: unknown keys, wrong types and conflicting identities are INVALID_OPTION naming the
 * option. Values are never echoed (they may be secrets); only their type is.
 */
export function validateEntraAuthOptions(input: unknown): EntraAuthOptions {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw invalid(
      'entra',
      `Entra options must be an object (got ${describeType(input)})`,
      'pass {} to take everything from the environment',
    )
  }
  const options = input as Record<string, unknown>
  for (const key of Object.keys(options)) {
    if (!knownKeys.includes(key as keyof EntraAuthOptions)) {
      const documented = knownKeys.filter((k) => k !== 'clock' && k !== 'random')
      const near = closestName(key, documented)
      throw invalid(
        key,
        `unknown Entra option "${key}"`,
        near ? `did you mean "${near}"?` : `known options: ${documented.join(', ')}`,
      )
    }
  }
  for (const key of knownKeys) {
    const value = options[key]
    if (value === undefined) continue
    const expected = checks[key](value)
    if (expected)
      throw invalid(key, `option ${key} must be ${expected} (got ${describeType(value)})`, `fix or remove ${key}`)
  }

  const given = identityGroups
    .filter((group) => group.keys.some((key) => options[key] !== undefined))
    .map((g) => g.name)
  if (given.length > 1) {
    throw invalid(
      given[1]!,
      `conflicting identities: ${given.join(' and ')} are both given`,
      'give exactly one of credential, managedIdentity, clientSecret, certificatePath, federatedTokenFile',
    )
  }
  if (options.credential !== undefined) {
    const extra = (['tenantId', 'clientId', 'certificatePassword', 'authorityHost', 'authorityCa'] as const).find(
      (key) => options[key] !== undefined,
    )
    if (extra) {
      throw invalid(
        extra,
        `${extra} has no effect with credential`,
        `configure ${extra} on the credential you pass, and remove it here`,
      )
    }
  }
  if (options.managedIdentity !== undefined) {
    const extra = (['tenantId', 'clientId'] as const).find((key) => options[key] !== undefined)
    if (extra) {
      throw invalid(
        extra,
        `${extra} conflicts with managedIdentity`,
        extra === 'clientId'
          ? 'for a user-assigned identity write managedIdentity: { clientId }'
          : 'a managed identity belongs to its own tenant: remove tenantId',
      )
    }
  }
  if (options.certificatePassword !== undefined && options.certificatePath === undefined) {
    throw invalid(
      'certificatePassword',
      'certificatePassword is given without certificatePath',
      'set certificatePath too',
    )
  }
  return options as EntraAuthOptions
}
