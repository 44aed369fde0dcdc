// Turns a PrincipalSpec into a directory principal with ids, and credentials: a secret, a client certificate file,
// a federated (service-account) token file.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { FEDERATED_AUDIENCE } from '../entra/constants.js'
import type { SigningKey } from '../entra/keys.js'
import type { CertificateAuthority } from '../pki/index.js'
import type { Directory, PrincipalCredentials } from './index.js'
import { DirectoryError, withHiddenSecret } from './index.js'
import type { Principal, PrincipalSpec } from './types.js'

const FEDERATED_TOKEN_LIFETIME_SECONDS = 24 * 3600

export interface PrincipalFactoryDeps {
  tenantId: string
  directory: Directory
  ca: CertificateAuthority
  workDir: string
  subscriptionId: string
  federation: { issuer(): string; key(): Promise<SigningKey> }
}

const fileSafe = (name: string) => name.replace(/[^A-Za-z0-9._@-]/g, '_')

/** Looks like an Entra client secret: 40 characters with a `~`. */
export function generateClientSecret(): string {
  return `pge~${randomBytes(27).toString('base64url')}`
}

export function federatedSubject(name: string): string {
  return `system:serviceaccount:default:${name.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`
}

export async function writeFederatedToken(
  deps: PrincipalFactoryDeps,
  principal: Principal,
  subject: string,
): Promise<string> {
  const dir = join(deps.workDir, 'federated')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, `${fileSafe(principal.name)}.jwt`)
  const key = await deps.federation.key()
  const token = await new SignJWT({
    'kubernetes.io': { namespace: 'default', serviceaccount: { name: subject.split(':').pop(), uid: randomUUID() } },
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(deps.federation.issuer())
    .setSubject(subject)
    .setAudience([FEDERATED_AUDIENCE])
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(`${FEDERATED_TOKEN_LIFETIME_SECONDS}s`)
    .sign(key.privateKey)
  await writeFile(path, token, { mode: 0o600 })
  return path
}

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.trim() === '' || name.length > 63) {
    throw new DirectoryError(
      'INVALID_PRINCIPAL',
      `${what} must be a non-empty string of at most 63 characters`,
      'PostgreSQL role names are at most 63 bytes',
    )
  }
  return name
}

export async function createPrincipal(
  deps: PrincipalFactoryDeps,
  spec: PrincipalSpec,
): Promise<{ principal: Principal; credentials: PrincipalCredentials }> {
  if (typeof spec !== 'object' || spec === null) {
    throw new DirectoryError(
      'INVALID_PRINCIPAL',
      'a principal spec must be an object',
      "e.g. { kind: 'user', upn: 'a@b.example' }",
    )
  }
  const base = { tenantId: deps.tenantId }
  switch (spec.kind) {
    case 'user': {
      const upn = checkName(spec.upn, 'upn')
      const principal: Principal = {
        kind: 'user',
        name: upn,
        upn,
        objectId: spec.oid ?? randomUUID(),
        ...base,
        ...(spec.groups ? { groups: spec.groups } : {}),
        ...(spec.mfa ? { mfa: true } : {}),
      }
      return { principal, credentials: {} }
    }
    case 'group': {
      const principal: Principal = {
        kind: 'group',
        name: checkName(spec.name, 'name'),
        objectId: spec.oid ?? randomUUID(),
        ...base,
      }
      return { principal, credentials: {} }
    }
    case 'managedIdentity': {
      const name = checkName(spec.name, 'name')
      if (spec.assignment !== 'system' && spec.assignment !== 'user') {
        throw new DirectoryError(
          'INVALID_PRINCIPAL',
          `assignment must be 'system' or 'user'`,
          "e.g. { kind: 'managedIdentity', name: 'web', assignment: 'user' }",
        )
      }
      if (spec.assignment === 'system' && deps.directory.systemAssignedIdentity()) {
        throw new DirectoryError(
          'PRINCIPAL_EXISTS',
          `the emulator already has a system-assigned managed identity (${deps.directory.systemAssignedIdentity()?.name})`,
          "a host has one system-assigned identity: add this one with assignment: 'user'",
        )
      }
      const provider =
        spec.assignment === 'system'
          ? `Microsoft.Web/sites/${name}`
          : `Microsoft.ManagedIdentity/userAssignedIdentities/${name}`
      const principal: Principal = {
        kind: 'managedIdentity',
        name,
        objectId: spec.oid ?? randomUUID(),
        clientId: spec.clientId ?? randomUUID(),
        assignment: spec.assignment,
        resourceId: `/subscriptions/${deps.subscriptionId}/resourcegroups/pg-entra-emulator/providers/${provider}`,
        ...base,
        ...(spec.groups ? { groups: spec.groups } : {}),
      }
      return { principal, credentials: {} }
    }
    case 'servicePrincipal': {
      const name = checkName(spec.name, 'name')
      const principal: Principal = {
        kind: 'servicePrincipal',
        name,
        objectId: spec.oid ?? randomUUID(),
        appId: spec.appId ?? randomUUID(),
        ...base,
        ...(spec.groups ? { groups: spec.groups } : {}),
      }
      const credentials: PrincipalCredentials = {}
      if (spec.certificate) {
        const certificate = await deps.ca.issueClientCertificate(name)
        const dir = join(deps.workDir, 'certificates')
        await mkdir(dir, { recursive: true, mode: 0o700 })
        const path = join(dir, `${fileSafe(name)}.pem`)
        await writeFile(path, certificate.key + certificate.cert, { mode: 0o600 })
        principal.certificatePath = path
        credentials.certificate = {
          x5t: certificate.x5t,
          x5tS256: certificate.x5tS256,
          publicKey: certificate.publicKey,
        }
      }
      if (spec.federated) {
        credentials.federatedSubject = federatedSubject(name)
        principal.federatedTokenFile = await writeFederatedToken(deps, principal, credentials.federatedSubject)
      }
      const secret = spec.secret === false ? undefined : (spec.secret ?? generateClientSecret())
      return { principal: withHiddenSecret(principal, secret), credentials }
    }
    default:
      throw new DirectoryError(
        'INVALID_PRINCIPAL',
        `unknown principal kind ${String((spec as { kind?: unknown }).kind)}`,
        "kind is one of 'user', 'servicePrincipal', 'managedIdentity', 'group'",
      )
  }
}
