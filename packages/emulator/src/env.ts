// The environment an application needs to reach the emulator, by profile.
import type { Principal } from './directory/types.js'
import { EmulatorError } from './errors.js'
import type { EmulatorDescription, Profile } from './types.js'

export { EmulatorError, isEmulatorError } from './errors.js'

export const DISCOVERY_WARNING =
  'warning: AZURE_AUTHORITY_HOST points at the emulator, but Azure SDK code that builds its own credential from ' +
  "these variables (EnvironmentCredential, DefaultAzureCredential) still calls Microsoft's instance discovery " +
  '(login.microsoftonline.com) unless it passes disableInstanceDiscovery: true; no environment variable turns that off. ' +
  'The managed-identity profile has no such trap.'

export function profilePrincipal(principals: Principal[], profile: Profile, name?: string): Principal {
  if (name !== undefined) {
    const found = principals.find((p) => p.name.toLowerCase() === name.toLowerCase())
    if (!found) {
      throw new EmulatorError(
        'PRINCIPAL_NOT_FOUND',
        `no principal named "${name}"`,
        `known: ${principals.map((p) => p.name).join(', ') || '(none)'}`,
      )
    }
    const wanted = profile === 'managed-identity' ? 'managedIdentity' : 'servicePrincipal'
    if (found.kind !== wanted) {
      throw new EmulatorError(
        'PROFILE_MISMATCH',
        `principal "${name}" is a ${found.kind}, but the ${profile} profile needs a ${wanted}`,
        `use --profile ${found.kind === 'managedIdentity' ? 'managed-identity' : 'service-principal'} or another principal`,
      )
    }
    return found
  }
  const candidates =
    profile === 'managed-identity'
      ? principals
          .filter((p) => p.kind === 'managedIdentity')
          .sort((a, b) => Number(b.assignment === 'system') - Number(a.assignment === 'system'))
      : principals.filter((p) => p.kind === 'servicePrincipal' && p.secret !== undefined)
  const found = candidates[0]
  if (!found) {
    throw new EmulatorError(
      'NO_PROFILE_PRINCIPAL',
      `the emulator has no ${profile === 'managed-identity' ? 'managed identity' : 'service principal with a secret'}`,
      'add one with addPrincipal() or start with the default directory',
    )
  }
  return found
}

export function buildEnv(
  emulator: EmulatorDescription,
  principals: Principal[],
  opts: { profile?: Profile; principal?: string } = {},
): Record<string, string> {
  const profile = opts.profile ?? 'managed-identity'
  const principal = profilePrincipal(principals, profile, opts.principal)
  const env: Record<string, string> = {
    PGHOST: emulator.pg.host,
    PGPORT: String(emulator.pg.port),
    PGDATABASE: emulator.pg.database,
    PGUSER: principal.roleName ?? principal.name,
    PGSSLMODE: 'verify-full',
    PGSSLROOTCERT: emulator.caPath,
    NODE_EXTRA_CA_CERTS: emulator.caPath,
    PG_ENTRA_EMULATOR_URL: emulator.controlUrl,
    // the PgBouncer port, like Azure's 6432: same host, same token, transaction pooling
    ...(emulator.pgbouncer ? { PG_ENTRA_EMULATOR_PGBOUNCER_PORT: String(emulator.pgbouncer.port) } : {}),
  }
  if (profile === 'managed-identity') {
    env.IDENTITY_ENDPOINT = emulator.managedIdentity.endpoint
    env.IDENTITY_HEADER = emulator.managedIdentity.header
    if (principal.assignment === 'user' && principal.clientId) env.AZURE_CLIENT_ID = principal.clientId
  } else {
    env.AZURE_TENANT_ID = emulator.tenantId
    env.AZURE_CLIENT_ID = principal.appId ?? ''
    env.AZURE_CLIENT_SECRET = principal.secret ?? ''
    env.AZURE_AUTHORITY_HOST = emulator.authorityHost
  }
  return env
}
