// The fake tenant's directory: principals by name, app id, client id and object id.
import { randomUUID } from 'node:crypto'
import { EmulatorError } from '../errors.js'
import type { DirectoryEntry, Principal, PrincipalKind } from './types.js'
import { PGAADAUTH_TYPE } from './types.js'

export type { DirectoryEntry, PgaadauthType, Principal, PrincipalKind, PrincipalSpec, RoleSpec } from './types.js'
export { PGAADAUTH_TYPE } from './types.js'

/** How a service principal proves itself, beyond its secret. Kept out of Principal: not for callers. */
export interface PrincipalCredentials {
  certificate?: { x5t: string; x5tS256: string; publicKey: string }
  /** the `sub` a federated assertion must carry */
  federatedSubject?: string
}

/** Errors of the directory: PRINCIPAL_EXISTS, PRINCIPAL_NOT_FOUND, INVALID_PRINCIPAL. */
export class DirectoryError extends EmulatorError {}

/**
 * Defines `secret` as a non-enumerable property: present for whoever asks for it (principal.secret) but absent
 * from util.inspect, console.log and JSON.stringify.
 */
export function withHiddenSecret<T extends Principal>(principal: T, secret: string | undefined): T {
  if (secret !== undefined) {
    Object.defineProperty(principal, 'secret', {
      value: secret,
      enumerable: false,
      writable: false,
      configurable: true,
    })
  }
  return principal
}

export function newObjectId(): string {
  return randomUUID()
}

export class Directory {
  readonly #byName = new Map<string, Principal>()
  readonly #credentials = new Map<Principal, PrincipalCredentials>()

  constructor(readonly tenantId: string) {}

  list(): Principal[] {
    return [...this.#byName.values()]
  }

  add(principal: Principal, credentials: PrincipalCredentials = {}): Principal {
    if (!principal.name)
      throw new DirectoryError('INVALID_PRINCIPAL', 'a principal needs a name', 'give name (upn for users)')
    const key = principal.name.toLowerCase()
    if (this.#byName.has(key)) {
      throw new DirectoryError(
        'PRINCIPAL_EXISTS',
        `a principal named "${principal.name}" already exists`,
        'choose a unique name, e.g. with a random suffix',
      )
    }
    for (const other of this.#byName.values()) {
      if (other.objectId === principal.objectId) {
        throw new DirectoryError('PRINCIPAL_EXISTS', `object id ${principal.objectId} is taken`, 'omit oid')
      }
      const id = principal.appId ?? principal.clientId
      if (id && (other.appId ?? other.clientId) === id) {
        throw new DirectoryError('PRINCIPAL_EXISTS', `app/client id ${id} is taken`, 'omit appId/clientId')
      }
    }
    this.#byName.set(key, principal)
    this.#credentials.set(principal, credentials)
    return principal
  }

  remove(principal: Principal): void {
    if (this.#byName.get(principal.name.toLowerCase()) === principal) this.#byName.delete(principal.name.toLowerCase())
    this.#credentials.delete(principal)
  }

  byName(name: string): Principal | undefined {
    return this.#byName.get(name.toLowerCase())
  }

  require(name: string): Principal {
    const principal = this.byName(name)
    if (!principal) {
      throw new DirectoryError(
        'PRINCIPAL_NOT_FOUND',
        `no principal named "${name}" in the emulator's directory`,
        `known: ${this.list()
          .map((p) => p.name)
          .join(', ')}`,
      )
    }
    return principal
  }

  /** a service principal by app (client) id; GUIDs compare case-insensitively, as in Entra */
  application(appId: string): Principal | undefined {
    return this.list().find((p) => p.kind === 'servicePrincipal' && sameGuid(p.appId, appId))
  }

  systemAssignedIdentity(): Principal | undefined {
    return this.list().find((p) => p.kind === 'managedIdentity' && p.assignment === 'system')
  }

  /** a managed identity by client id, object id or resource id, as the MI endpoints are asked */
  managedIdentity(query: { clientId?: string; objectId?: string; resourceId?: string }): Principal | undefined {
    return this.list().find(
      (p) =>
        p.kind === 'managedIdentity' &&
        ((query.clientId !== undefined && sameGuid(p.clientId, query.clientId)) ||
          (query.objectId !== undefined && sameGuid(p.objectId, query.objectId)) ||
          (query.resourceId !== undefined && p.resourceId?.toLowerCase() === query.resourceId.toLowerCase())),
    )
  }

  credentials(principal: Principal): PrincipalCredentials {
    return this.#credentials.get(principal) ?? {}
  }

  byCertificateThumbprint(thumbprint: { x5t?: string; x5tS256?: string }): Principal | undefined {
    for (const [principal, credentials] of this.#credentials) {
      const c = credentials.certificate
      if (!c) continue
      if ((thumbprint.x5t && c.x5t === thumbprint.x5t) || (thumbprint.x5tS256 && c.x5tS256 === thumbprint.x5tS256)) {
        return principal
      }
    }
    return undefined
  }

  /** group object ids for a list of group names or object ids */
  resolveGroups(namesOrIds: string[] | undefined): string[] {
    return (namesOrIds ?? []).map((g) => {
      const group = this.byName(g)
      return group?.kind === 'group' ? group.objectId : g
    })
  }

  /** rows for pgaadauth.directory, which pgaadauth_create_principal(name, ...) resolves names against */
  entries(): DirectoryEntry[] {
    return this.list().map((p) => ({ name: p.name, oid: p.objectId, kind: PGAADAUTH_TYPE[p.kind as PrincipalKind] }))
  }
}

/** Entra's ids are GUIDs, which it reads in either case. */
export function sameGuid(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase()
}
