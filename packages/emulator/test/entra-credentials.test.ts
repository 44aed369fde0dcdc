// @azure/identity's app credentials against the emulator's Entra ID: tokens and their claims, and Entra's errors.
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  type TokenCredential,
  WorkloadIdentityCredential,
} from '@azure/identity'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Emulator, isEmulatorError, type Principal, startEmulator } from '../src/index.js'
import { credentialOptions, decodeJwt, httpsCall, type Json, secretTokenRequest } from './entra-fixtures.js'

let em: Emulator
let sp: Principal
let certSp: Principal
let workload: Principal

beforeAll(async () => {
  em = await startEmulator({
    principals: [
      { kind: 'group', name: 'readers' },
      { kind: 'servicePrincipal', name: 'secret-app', groups: ['readers'] },
      { kind: 'servicePrincipal', name: 'cert-app', certificate: true, secret: false },
      { kind: 'servicePrincipal', name: 'workload-app', federated: true, secret: false },
      { kind: 'user', upn: 'alice@contoso.example', groups: ['readers'] },
      { kind: 'managedIdentity', name: 'web-app', assignment: 'system' },
      { kind: 'managedIdentity', name: 'shared-id', assignment: 'user' },
    ],
  })
  sp = em.principal('secret-app')
  certSp = em.principal('cert-app')
  workload = em.principal('workload-app')
})
afterAll(() => em?.stop())

async function verifiedClaims(token: string) {
  const jwks = (await httpsCall(em, 'GET', new URL(em.jwksUri).pathname)).json()
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: ['RS256'],
    audience: em.resource,
    issuer: em.issuers.v1,
  })
  return { claims: payload as Record<string, Json>, header: protectedHeader }
}

async function tokenOf(credential: TokenCredential) {
  const token = await credential.getToken(em.scope)
  if (!token) throw new Error('no token')
  return token
}

describe('client credentials', () => {
  it('ClientSecretCredential gets an RS256 token with the claims Entra issues to an app', async () => {
    const credential = new ClientSecretCredential(em.tenantId, sp.appId!, sp.secret!, credentialOptions(em))
    const token = await tokenOf(credential)
    const { claims, header } = await verifiedClaims(token.token)
    expect(header).toMatchObject({ typ: 'JWT', alg: 'RS256' })
    expect(header.kid).toBeTypeOf('string')
    expect(header.x5t).toBe(header.kid)
    expect(claims).toMatchObject({
      aud: 'https://ossrdbms-aad.database.windows.net',
      iss: `https://sts.windows.net/${em.tenantId}/`,
      tid: em.tenantId,
      oid: sp.objectId,
      sub: sp.objectId,
      appid: sp.appId,
      appidacr: '1',
      idtyp: 'app',
      ver: '1.0',
      groups: [em.principal('readers').objectId],
    })
    expect(claims.upn).toBeUndefined()
    expect(claims.xms_mirid).toBeUndefined()
    expect(claims.uti).toMatch(/^[\w-]{16,}$/)
    expect(claims.exp - claims.iat).toBe(3599)
    expect(claims.nbf).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000))
    expect(Math.abs(token.expiresOnTimestamp - claims.exp * 1000)).toBeLessThan(5_000)
  })

  it('ClientCertificateCredential proves itself with a certificate assertion', async () => {
    expect(certSp.secret).toBeUndefined()
    const credential = new ClientCertificateCredential(
      em.tenantId,
      certSp.appId!,
      { certificatePath: certSp.certificatePath! },
      credentialOptions(em),
    )
    const { claims } = await verifiedClaims((await tokenOf(credential)).token)
    expect(claims).toMatchObject({ appid: certSp.appId, oid: certSp.objectId, appidacr: '2', idtyp: 'app' })
    const log = await em.requestLog()
    expect(log.some((e) => e.principal === 'cert-app' && e.credential === 'certificate' && e.status === 200)).toBe(true)
  })

  it('refuses a certificate that belongs to another app with AADSTS700027', async () => {
    const credential = new ClientCertificateCredential(
      em.tenantId,
      sp.appId!,
      { certificatePath: certSp.certificatePath! },
      credentialOptions(em),
    )
    await expect(credential.getToken(em.scope)).rejects.toThrow(/AADSTS700027/)
  })

  it('WorkloadIdentityCredential exchanges the federated service-account token', async () => {
    const credential = new WorkloadIdentityCredential({
      tenantId: em.tenantId,
      clientId: workload.appId!,
      tokenFilePath: workload.federatedTokenFile!,
      ...credentialOptions(em),
    })
    const { claims } = await verifiedClaims((await tokenOf(credential)).token)
    expect(claims).toMatchObject({ appid: workload.appId, oid: workload.objectId, appidacr: '2' })
    const log = await em.requestLog()
    expect(log.some((e) => e.principal === 'workload-app' && e.credential === 'federated' && e.status === 200)).toBe(
      true,
    )
  })

  it("refuses another app's federated token (no matching federated identity record)", async () => {
    const credential = new WorkloadIdentityCredential({
      tenantId: em.tenantId,
      clientId: sp.appId!,
      tokenFilePath: workload.federatedTokenFile!,
      ...credentialOptions(em),
    })
    await expect(credential.getToken(em.scope)).rejects.toThrow(/AADSTS70021/)
  })

  it('a wrong secret fails with AADSTS7000215', async () => {
    const credential = new ClientSecretCredential(em.tenantId, sp.appId!, 'not-the-secret', credentialOptions(em))
    await expect(credential.getToken(em.scope)).rejects.toThrow(/AADSTS7000215/)
    const raw = await secretTokenRequest(em, sp.appId!, 'not-the-secret')
    expect(raw.status).toBe(401)
    expect(raw.json()).toMatchObject({ error: 'invalid_client', error_codes: [7000215] })
  })

  it('client_secret_basic works, and malformed %-encoding in it is a 401 invalid_client, not a 500', async () => {
    const basic = (user: string, pass: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
    })
    const form = { grant_type: 'client_credentials', scope: em.scope }
    const good = await httpsCall(em, 'POST', `/${em.tenantId}/oauth2/v2.0/token`, form, basic(sp.appId!, sp.secret!))
    expect(good.status).toBe(200)
    const bad = await httpsCall(em, 'POST', `/${em.tenantId}/oauth2/v2.0/token`, form, basic(sp.appId!, '%E0%A4%A'))
    expect(bad.status).toBe(401)
    expect(bad.json()).toMatchObject({ error: 'invalid_client', error_codes: [7000215] })
  })

  it('an unknown app fails with AADSTS700016', async () => {
    const unknown = '3f1c2b9e-0000-4000-8000-000000000001'
    const credential = new ClientSecretCredential(em.tenantId, unknown, 'whatever', credentialOptions(em))
    await expect(credential.getToken(em.scope)).rejects.toThrow(/AADSTS700016/)
    const raw = await secretTokenRequest(em, unknown, 'whatever')
    expect(raw.status).toBe(400)
    expect(raw.json()).toMatchObject({ error: 'unauthorized_client', error_codes: [700016] })
  })

  it('an unknown tenant fails with AADSTS90002, an unknown resource with AADSTS500011', async () => {
    const wrongTenant = await secretTokenRequest(em, sp.appId!, sp.secret!, '11111111-2222-4333-8444-555555555555')
    expect(wrongTenant.json().error_codes).toEqual([90002])
    const metadata = await httpsCall(
      em,
      'GET',
      '/11111111-2222-4333-8444-555555555555/v2.0/.well-known/openid-configuration',
    )
    expect(metadata.status).toBe(400)
    const wrongScope = await httpsCall(em, 'POST', `/${em.tenantId}/oauth2/v2.0/token`, {
      client_id: sp.appId!,
      client_secret: sp.secret!,
      grant_type: 'client_credentials',
      scope: 'https://vault.azure.net/.default',
    })
    expect(wrongScope.json()).toMatchObject({ error: 'invalid_resource', error_codes: [500011] })
  })
})

describe('metadata', () => {
  it('publishes v2 and v1 OpenID configurations and the JWKS', async () => {
    const v2 = (await httpsCall(em, 'GET', `/${em.tenantId}/v2.0/.well-known/openid-configuration`)).json()
    expect(v2).toMatchObject({
      issuer: em.issuers.v2,
      token_endpoint: `${em.authorityHost}/${em.tenantId}/oauth2/v2.0/token`,
      jwks_uri: em.jwksUri,
    })
    expect(em.issuers.v2).toBe(`${em.authorityHost}/${em.tenantId}/v2.0`)
    const v1 = (await httpsCall(em, 'GET', `/${em.tenantId}/.well-known/openid-configuration`)).json()
    expect(v1.issuer).toBe(`https://sts.windows.net/${em.tenantId}/`)
    const jwks = (await httpsCall(em, 'GET', new URL(em.jwksUri).pathname)).json()
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', use: 'sig' })
    expect(jwks.keys[0].d).toBeUndefined()
  })
})

describe('tokens issued directly', () => {
  it('a user token carries upn, unique_name, idtyp user and its groups', async () => {
    const alice = em.principal('alice@contoso.example')
    const { claims } = await verifiedClaims(await em.token('alice@contoso.example'))
    expect(claims).toMatchObject({
      upn: 'alice@contoso.example',
      unique_name: 'alice@contoso.example',
      idtyp: 'user',
      oid: alice.objectId,
      groups: [em.principal('readers').objectId],
    })
  })

  it('managed identity tokens carry xms_mirid naming the identity', async () => {
    const system = decodeJwt(await em.token('web-app')).claims
    expect(system.xms_mirid).toMatch(
      /^\/subscriptions\/[\w-]+\/resourcegroups\/[\w-]+\/providers\/Microsoft\.Web\/sites\/web-app$/,
    )
    expect(system).toMatchObject({ appid: em.principal('web-app').clientId, idtyp: 'app', appidacr: '2' })
    const user = decodeJwt(await em.token('shared-id', { lifetimeSeconds: 120 })).claims
    expect(user.xms_mirid).toMatch(/\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/shared-id$/)
    expect(user.exp - user.iat).toBe(120)
    const short = decodeJwt(await em.token('shared-id', { lifetimeSeconds: 5 })).claims
    expect([short.exp - short.iat, short.nbf]).toEqual([5, short.iat])
  })

  it('refuses a token for an unknown principal or a group with a coded error', async () => {
    const error = await em.token('nobody').catch((e: unknown) => e)
    expect(isEmulatorError(error)).toBe(true)
    expect(error).toMatchObject({ code: 'PRINCIPAL_NOT_FOUND', hint: expect.stringContaining('secret-app') })
    await expect(em.token('readers')).rejects.toMatchObject({ code: 'GROUP_TOKEN' })
  })
})
