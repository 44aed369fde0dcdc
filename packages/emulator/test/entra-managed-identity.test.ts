// ManagedIdentityCredential against the emulator's managed-identity endpoints, App Service and IMDS shapes.
// Each case runs in its own child process: MSAL chooses the MI source once per process and caches tokens there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Emulator, startEmulator } from '../src/index.js'
import { childEnv, decodeJwt, fixturesDir, lastJsonLine, runNode } from './entra-fixtures.js'

let em: Emulator

beforeAll(async () => {
  em = await startEmulator({
    tokenLifetimeSeconds: 86_399,
    principals: [
      { kind: 'managedIdentity', name: 'orders-web', assignment: 'system' },
      { kind: 'managedIdentity', name: 'orders-worker', assignment: 'user' },
    ],
  })
})
afterAll(() => em?.stop())

interface ChildResult {
  ok: boolean
  token?: string
  sameTokenSecondTime?: boolean
  expiresOnTimestamp?: number
  refreshAfterTimestamp?: number | null
  now?: number
  name?: string
  message?: string
}

async function runCase(shape: 'app-service' | 'imds', opts: { clientId?: string; credential?: 'default' } = {}) {
  const env: Record<string, string> =
    shape === 'app-service'
      ? { IDENTITY_ENDPOINT: em.managedIdentity.endpoint, IDENTITY_HEADER: em.managedIdentity.header }
      : { AZURE_POD_IDENTITY_AUTHORITY_HOST: em.managedIdentity.imdsHost }
  const extra: Record<string, string> = { ...env }
  if (opts.clientId) extra.CASE_CLIENT_ID = opts.clientId
  if (opts.credential) extra.CASE_CREDENTIAL = opts.credential
  const result = await runNode([`${fixturesDir}/mi-child.mjs`], childEnv(extra))
  expect(result.stderr).not.toMatch(/LOOPBACK_GUARD/)
  return lastJsonLine<ChildResult>(result.stdout)
}

function expectIdentity(result: ChildResult, name: string, provider: RegExp) {
  expect(result, result.message).toMatchObject({ ok: true, sameTokenSecondTime: true })
  const principal = em.principal(name)
  const { claims } = decodeJwt(result.token!)
  expect(claims).toMatchObject({
    aud: em.resource,
    iss: em.issuers.v1,
    tid: em.tenantId,
    oid: principal.objectId,
    appid: principal.clientId,
    appidacr: '2',
    idtyp: 'app',
    xms_mirid: principal.resourceId,
  })
  expect(claims.xms_mirid).toMatch(provider)
  expect(claims.xms_mirid.split('/').pop()).toBe(name)
  // MSAL suggests refreshing managed-identity tokens at half-life.
  const halfLife = (result.expiresOnTimestamp! - result.now!) / 2
  expect(Math.abs(result.refreshAfterTimestamp! - result.now! - halfLife)).toBeLessThan(60_000)
  return claims
}

describe('App Service shape (IDENTITY_ENDPOINT + IDENTITY_HEADER)', () => {
  it('system-assigned', async () => {
    const before = (await em.counters()).managedIdentityRequests
    const claims = expectIdentity(await runCase('app-service'), 'orders-web', /\/Microsoft\.Web\/sites\//)
    const after = await em.counters()
    expect(after.managedIdentityRequests - before).toBe(1)
    expect(after.tokenRequests.byPrincipal['orders-web']?.issued.map((t) => t.tokenId)).toContain(claims.uti)
    const log = await em.requestLog()
    const entry = log.find((e) => e.tokenId === claims.uti)
    expect(entry).toMatchObject({ server: 'managed-identity', path: '/msi/token', status: 200 })
    expect(entry?.params['api-version']).toBe('2019-08-01')
  })

  it('user-assigned by client id', async () => {
    const worker = em.principal('orders-worker')
    expectIdentity(
      await runCase('app-service', { clientId: worker.clientId! }),
      'orders-worker',
      /\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//,
    )
  })

  it('DefaultAzureCredential finds the App Service identity with no other configuration', async () => {
    expectIdentity(await runCase('app-service', { credential: 'default' }), 'orders-web', /\/sites\//)
  })

  it('an unknown client id is refused', async () => {
    const result = await runCase('app-service', { clientId: '00000000-0000-4000-8000-00000000dead' })
    expect(result.ok).toBe(false)
    expect(result.message).toMatch(/No managed identity found/)
  })
})

describe('IMDS shape (AZURE_POD_IDENTITY_AUTHORITY_HOST, Metadata: true)', () => {
  it('system-assigned', async () => {
    const claims = expectIdentity(await runCase('imds'), 'orders-web', /\/sites\//)
    const entry = (await em.requestLog()).find((e) => e.tokenId === claims.uti)
    expect(entry?.path).toBe('/metadata/identity/oauth2/token/')
  })

  it('user-assigned by client id', async () => {
    const worker = em.principal('orders-worker')
    expectIdentity(await runCase('imds', { clientId: worker.clientId! }), 'orders-worker', /userAssignedIdentities/)
  })
})

describe('endpoint checks', () => {
  it('App Service needs the identity header, IMDS the Metadata header', async () => {
    const noHeader = await fetch(`${em.managedIdentity.endpoint}?api-version=2019-08-01&resource=${em.resource}`)
    expect(noHeader.status).toBe(401)
    const imds = `${em.managedIdentity.imdsHost}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${em.resource}`
    expect((await fetch(imds)).status).toBe(400)
    const ok = await fetch(imds, { headers: { Metadata: 'true' } })
    expect(ok.status).toBe(200)
    const wrongResource = await fetch(imds.replace(em.resource, 'https://vault.azure.net'), {
      headers: { Metadata: 'true' },
    })
    expect(await wrongResource.json()).toMatchObject({ error: 'invalid_resource' })
  })
})
