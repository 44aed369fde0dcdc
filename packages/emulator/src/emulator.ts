// startEmulator: Entra ID (HTTPS + managed-identity endpoints), the Azure-like PostgreSQL front and its upstream,
// and the control API, composed.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ControlServer, startControlServer } from './control/server.js'
import { createCounters, fingerprint } from './counters/index.js'
import { createPrincipal, writeFederatedToken } from './directory/create.js'
import { Directory, PGAADAUTH_TYPE } from './directory/index.js'
import type { Principal, PrincipalSpec } from './directory/types.js'
import { OSSRDBMS_RESOURCE, OSSRDBMS_SCOPE, v1Issuer, v2Issuer } from './entra/constants.js'
import { type EntraContext, issueAndRecord } from './entra/context.js'
import { createEntraKeys } from './entra/keys.js'
import { startManagedIdentityServer } from './entra/managed-identity.js'
import { startEntraServer } from './entra/server.js'
import { createTokenMinter } from './entra/tokens.js'
import { createTokenVerifier } from './entra/verifier.js'
import { buildEnv, EmulatorError } from './env.js'
import { createKnobs } from './knobs/index.js'
import { logSafe } from './log-text.js'
import { startPgFront } from './pg-front/index.js'
import type { FrontEvent } from './pg-front/types.js'
import { startPgBouncer } from './pgbouncer/index.js'
import { createCertificateAuthority } from './pki/index.js'
import { invalidExtensionName } from './sql/extensions.js'
import type { Emulator, EmulatorDescription, StartEmulatorOptions } from './types.js'
import { startUpstream, type UpstreamHandle } from './upstream/index.js'

const HOST = '127.0.0.1'
const ADMIN_USER = 'emulator_admin'

/** One log line per event; what a client chose (role, reason quoting it) is escaped so it cannot forge lines. */
export function describeFrontEvent(e: FrontEvent): string | undefined {
  if (e.type === 'rejected') {
    const who = e.role === undefined ? '' : ` role=${logSafe(e.role)}`
    const token = e.tokenFingerprint ? ` token=${e.tokenFingerprint}` : ''
    return `pg: rejected${who} ${e.code}: ${logSafe(e.reason)}${token}`
  }
  if (e.type === 'accepted') {
    return `pg: accepted role=${logSafe(e.role)} via ${e.method}${e.tokenId ? ` uti=${logSafe(e.tokenId)}` : ''}`
  }
  return undefined
}

/** Creates the login role, or resets its password if it exists (a reused data dir or external server). */
async function createLoginRole(upstream: UpstreamHandle, name: string, password: string, superuser: boolean) {
  const { rows } = await upstream.adminQuery(
    `select format(
       case when exists (select 1 from pg_catalog.pg_roles where rolname = $1) then 'alter' else 'create' end
       || ' role %I with login ${superuser ? 'superuser ' : ''}password %L', $1::text, $2::text) as ddl`,
    [name, password],
  )
  await upstream.adminQuery(rows[0].ddl)
}

export async function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  const invalidExtension = invalidExtensionName(options.extensions ?? [])
  if (invalidExtension !== undefined) {
    throw new EmulatorError(
      'BAD_ARGUMENTS',
      `extensions: ${JSON.stringify(invalidExtension)} is not an extension name`,
      'give names of letters, digits, _, - and ., e.g. ["pgcrypto", "uuid-ossp"]',
    )
  }
  const log = options.log ?? (() => {})
  const tenantId = options.tenantId ?? randomUUID()
  const ownsWorkDir = options.workDir === undefined
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'pg-entra-emulator-')))
  const cleanups: (() => Promise<void>)[] = []
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {})
    if (ownsWorkDir) await rm(workDir, { recursive: true, force: true })
  }

  try {
    const upstreamStarting = startUpstream(options.upstream ?? { kind: 'embedded' })
    upstreamStarting.catch(() => {})
    // registered first, so that it runs last, and also when starting fails half-way
    cleanups.push(async () => (await upstreamStarting).stop())
    const [ca, keys] = await Promise.all([createCertificateAuthority(), createEntraKeys()])
    const serverCertificate = await ca.issueServerCertificate()
    const caPath = join(workDir, 'ca.pem')
    await writeFile(caPath, ca.caPem, { mode: 0o644 })

    const directory = new Directory(tenantId)
    const knobs = createKnobs({
      ...(options.tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds: options.tokenLifetimeSeconds }),
      ...(options.refreshInSeconds === undefined ? {} : { refreshInSeconds: options.refreshInSeconds }),
    })
    const counters = createCounters()
    const hung = new Set<ServerResponse>()
    let authorityHost = ''
    const federationIssuer = () => `${authorityHost}/federation/${tenantId}/`
    const minter = createTokenMinter({ tenantId, authorityHost: () => authorityHost, keys, directory })
    const ctx: EntraContext = { tenantId, directory, minter, keys, knobs, counters, federationIssuer, hung }

    const entra = await startEntraServer(ctx, { tls: serverCertificate, host: HOST, port: options.ports?.entra ?? 0 })
    cleanups.push(() => entra.close())
    authorityHost = entra.authorityHost
    const managedIdentity = await startManagedIdentityServer(ctx, {
      host: HOST,
      port: options.ports?.managedIdentity ?? 0,
      header: randomBytes(24).toString('base64url'),
    })
    cleanups.push(() => managedIdentity.close())
    cleanups.push(async () => {
      for (const res of hung) res.destroy()
    })
    log(`entra: ${authorityHost} (tenant ${tenantId}); managed identity: ${managedIdentity.imdsHost}`)

    const upstream = await upstreamStarting
    await upstream.setTenant(tenantId)
    if (options.extensions !== undefined || (options.upstream?.kind ?? 'embedded') === 'embedded') {
      await upstream.setExtensionAllowList(options.extensions ?? [])
    }
    const issuers = { v1: v1Issuer(tenantId), v2: v2Issuer(authorityHost, tenantId) }
    const jwksUri = `${authorityHost}/${tenantId}/discovery/v2.0/keys`
    const clockSkewSeconds = options.clockSkewSeconds ?? 60
    const verifier = createTokenVerifier({
      jwksUri,
      ca: ca.caPem,
      tenantId,
      issuers: [issuers.v1, issuers.v2],
      audiences: [OSSRDBMS_RESOURCE],
      clockSkewSeconds,
    })
    const frontOptions = {
      host: HOST,
      tls: serverCertificate,
      upstream,
      verifier,
      clockSkewSeconds,
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      onEvent(e: FrontEvent) {
        counters.frontEvent(e)
        const line = describeFrontEvent(e)
        if (line) log(line)
      },
    } as const
    const front = await startPgFront({ ...frontOptions, port: options.ports?.pg ?? 0 })
    cleanups.push(() => front.close())
    let bouncerFront: { host: string; port: number } | undefined
    if (options.pgbouncer) {
      const bouncer = await startPgBouncer(upstream, options.pgbouncer === true ? {} : options.pgbouncer)
      cleanups.push(() => bouncer.stop())
      const second = await startPgFront({
        ...frontOptions,
        port: options.ports?.pgbouncer ?? 0,
        sessionSocket: { dir: bouncer.socketDir, port: bouncer.port },
      })
      cleanups.push(() => second.close())
      bouncerFront = second
      log(`pg: PgBouncer port ${second.host}:${second.port} (transaction pooling)`)
    }
    const adminPassword = randomBytes(18).toString('base64url')
    await createLoginRole(upstream, ADMIN_USER, adminPassword, true)
    log(`pg: ${front.host}:${front.port} (upstream PostgreSQL on ${upstream.socketDir})`)

    const database = options.database ?? upstream.database
    if (database !== upstream.database) {
      const { rows } = await upstream.adminQuery(
        `select format('create database %I', $1::text) as ddl
         where not exists (select 1 from pg_catalog.pg_database where datname = $1)`,
        [database],
      )
      if (rows[0]) await upstream.adminQuery(rows[0].ddl)
    }
    const pg = { host: front.host, port: front.port, database, adminUser: ADMIN_USER, adminPassword: '' }
    Object.defineProperty(pg, 'adminPassword', { value: adminPassword, enumerable: false })

    const factoryDeps = {
      tenantId,
      directory,
      ca,
      workDir,
      subscriptionId: randomUUID(),
      federation: { issuer: federationIssuer, key: keys.federation },
    }

    // Federated token files live 24 h, like a projected service-account token they are rewritten well before.
    const federatedRefresh = setInterval(() => {
      for (const principal of directory.list()) {
        const subject = directory.credentials(principal).federatedSubject
        if (subject) writeFederatedToken(factoryDeps, principal, subject).catch(() => {})
      }
    }, 3_600_000)
    federatedRefresh.unref()
    cleanups.push(async () => clearInterval(federatedRefresh))

    let adding = Promise.resolve()
    async function addPrincipalNow(spec: PrincipalSpec): Promise<Principal> {
      const { principal, credentials } = await createPrincipal(factoryDeps, spec)
      directory.add(principal, credentials)
      try {
        await upstream.syncDirectory([{ name: principal.name, oid: principal.objectId, kind: principal.kind }])
        const role = spec.role ?? {}
        if (role !== false) {
          const roleName = role.name ?? principal.name
          await upstream.adminQuery('select * from pgaadauth_create_principal_with_oid($1, $2, $3, $4, $5)', [
            roleName,
            principal.objectId,
            PGAADAUTH_TYPE[principal.kind],
            role.admin ?? false,
            role.mfa ?? false,
          ])
          principal.roleName = roleName
        }
      } catch (e) {
        directory.remove(principal)
        throw new EmulatorError(
          'ROLE_CREATION_FAILED',
          `could not create the database role for "${principal.name}": ${(e as Error).message}`,
          'choose another role name, or pass role: false',
          { cause: e },
        )
      }
      log(`directory: ${principal.kind} ${principal.name}${principal.roleName ? ` (role ${principal.roleName})` : ''}`)
      return principal
    }
    /** one at a time: pgaadauth and the directory are updated in order */
    const addPrincipal = (spec: PrincipalSpec) => {
      const result = adding.then(() => addPrincipalNow(spec))
      adding = result.then(
        () => {},
        () => {},
      )
      return result
    }
    for (const spec of options.principals ?? []) await addPrincipal(spec)

    const description: EmulatorDescription = {
      tenantId,
      authorityHost,
      scope: OSSRDBMS_SCOPE,
      resource: OSSRDBMS_RESOURCE,
      issuers,
      jwksUri,
      ca: ca.caPem,
      caPath,
      workDir,
      managedIdentity: {
        endpoint: managedIdentity.endpoint,
        header: managedIdentity.header,
        imdsHost: managedIdentity.imdsHost,
      },
      pg,
      ...(bouncerFront ? { pgbouncer: { host: bouncerFront.host, port: bouncerFront.port, database } } : {}),
      controlUrl: '',
    }

    let control: ControlServer | undefined
    let stopped: Promise<void> | undefined
    const emulator: Emulator = {
      ...description,
      get principals() {
        return directory.list()
      },
      principal: (name) => directory.require(name),
      addPrincipal,
      createPasswordRole: (name, password) => createLoginRole(upstream, name, password, false),
      async token(principalName, opts = {}) {
        const principal = directory.require(principalName)
        if (principal.kind === 'group') {
          throw new EmulatorError(
            'GROUP_TOKEN',
            `"${principal.name}" is a group: groups get no tokens`,
            'ask for a member',
          )
        }
        const issued = await issueAndRecord(ctx, principal, {
          via: 'direct',
          ...(opts.lifetimeSeconds === undefined ? {} : { lifetimeSeconds: opts.lifetimeSeconds }),
        })
        return issued.token
      },
      async mintToken(claims, opts = {}) {
        const issued = await minter.mint(claims, {
          ...opts,
          lifetimeSeconds: opts.lifetimeSeconds ?? knobs.get().tokenLifetimeSeconds ?? 3599,
        })
        log(`entra: minted a custom token ${fingerprint(issued.token)}`)
        return issued.token
      },
      env: (opts) => buildEnv(emulator, directory.list(), opts),
      knobs: {
        get: () => knobs.get(),
        set: async (patch) => knobs.set(patch),
        failNext: async (failure) => knobs.failNext(failure),
        reset: async (scope) => knobs.reset(scope),
      },
      counters: async () => counters.snapshot(),
      requestLog: async () => counters.log(),
      stop() {
        stopped ??= cleanup().then(() => log('stopped'))
        return stopped
      },
    }
    control = await startControlServer(emulator, { host: HOST, port: options.ports?.control ?? 0 })
    cleanups.push(() => control?.close() ?? Promise.resolve())
    emulator.controlUrl = control.url
    return emulator
  } catch (e) {
    await cleanup()
    throw e
  }
}
