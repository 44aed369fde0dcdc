// The emulator's directory: who exists in the fake tenant. Shared with the PostgreSQL front (read-only).

export type PrincipalKind = 'user' | 'servicePrincipal' | 'managedIdentity' | 'group'

/** The `type` argument of pgaadauth_create_principal_with_oid and the `kind` stored in pgaadauth.directory. */
export type PgaadauthType = 'user' | 'service' | 'group'

export const PGAADAUTH_TYPE: Readonly<Record<PrincipalKind, PgaadauthType>> = {
  user: 'user',
  servicePrincipal: 'service',
  managedIdentity: 'service',
  group: 'group',
}

/** false: create no database role. Otherwise the role is created via pgaadauth_create_principal_with_oid. */
export type RoleSpec =
  | false
  | {
      name?: string
      admin?: boolean
      /** isMfa: the role refuses user tokens without `mfa` in `amr` */
      mfa?: boolean
    }

export type PrincipalSpec =
  | {
      kind: 'user'
      upn: string
      oid?: string
      groups?: string[]
      /** the user signs in with MFA: `amr` carries `mfa` (what a role created with isMfa = true requires) */
      mfa?: boolean
      role?: RoleSpec
    }
  | {
      kind: 'servicePrincipal'
      name: string
      appId?: string
      oid?: string
      /** a fixed secret, false for none; default a generated one */
      secret?: string | false
      /** also issue a client certificate (PEM with key + cert at certificatePath) */
      certificate?: boolean
      /** also write a federated (Kubernetes-like service-account) token file for WorkloadIdentityCredential */
      federated?: boolean
      groups?: string[]
      role?: RoleSpec
    }
  | {
      kind: 'managedIdentity'
      name: string
      assignment: 'system' | 'user'
      clientId?: string
      oid?: string
      groups?: string[]
      role?: RoleSpec
    }
  | { kind: 'group'; name: string; oid?: string; role?: RoleSpec }

export interface Principal {
  kind: PrincipalKind
  /** the principal's display name: a user's UPN, an app's or identity's or group's name */
  name: string
  objectId: string
  tenantId: string
  /** service principals */
  appId?: string
  /** managed identities */
  clientId?: string
  assignment?: 'system' | 'user'
  /** users */
  upn?: string
  /** users who sign in with multi-factor authentication */
  mfa?: boolean
  /** service principals; a secret, never logged */
  secret?: string
  /** service principals with certificate: PEM holding the private key and the certificate */
  certificatePath?: string
  /** service principals with federated: the file to give as AZURE_FEDERATED_TOKEN_FILE */
  federatedTokenFile?: string
  /** object ids of the groups the principal is a member of */
  groups?: string[]
  /** the database role mapped to this principal, when one was created */
  roleName?: string
  /** managed identities: the xms_mirid claim */
  resourceId?: string
}

/** One row of pgaadauth.directory, which pgaadauth_create_principal(name, ...) resolves names against. */
export interface DirectoryEntry {
  name: string
  oid: string
  kind: PgaadauthType
}
