// connectEmulator: another process (a vitest worker, the CLI) drives a running emulator through the control API.
import { randomUUID } from 'node:crypto'
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectEmulator, type Emulator, type RemoteEmulator, startEmulator } from '../src/index.js'
import {
  childEnv,
  decodeJwt,
  fixturesDir,
  type Json,
  lastJsonLine,
  runNode,
  secretTokenRequest,
} from './entra-fixtures.js'

let em: Emulator
let remote: RemoteEmulator

beforeAll(async () => {
  em = await startEmulator({ principals: [{ kind: 'managedIdentity', name: 'ctl-web', assignment: 'system' }] })
  remote = await connectEmulator(em.controlUrl)
})
afterAll(() => em?.stop())

describe('connectEmulator', () => {
  it('describes the emulator as startEmulator does', () => {
    for (const key of [
      'tenantId',
      'authorityHost',
      'scope',
      'resource',
      'jwksUri',
      'ca',
      'caPath',
      'controlUrl',
    ] as const) {
      expect(remote[key]).toBe(em[key])
    }
    expect(remote.issuers).toEqual(em.issuers)
    expect(remote.managedIdentity).toEqual(em.managedIdentity)
    expect(remote.pg).toEqual(em.pg)
    expect(remote.pg.adminPassword).toBe(em.pg.adminPassword)
    expect(remote.env()).toEqual(em.env())
    expect(remote.principal('ctl-web')).toEqual(em.principal('ctl-web'))
  })

  it('another process adds a principal, sets scoped knobs and gets a token', async () => {
    const name = `ctl-${randomUUID().slice(0, 8)}`
    const result = await runNode(
      ['--import', 'tsx', `${fixturesDir}/control-child.ts`],
      childEnv({ CONTROL_URL: em.controlUrl, PRINCIPAL_NAME: name }),
    )
    expect(result.stderr).toBe('')
    const out = lastJsonLine<Json>(result.stdout)
    expect(out.tenantId).toBe(em.tenantId)
    expect(out.hasSecret).toBe(true)
    expect(em.principal(name).appId).toBe(out.appId)
    expect(decodeJwt(out.token).claims).toMatchObject({ appid: out.appId, tid: em.tenantId })
    expect(decodeJwt(out.token).claims.exp - decodeJwt(out.token).claims.iat).toBe(300)
    expect(out.issued).toBe(1)
    expect(out.knobs.principals[name].tokenLifetimeSeconds).toBe(300)
    expect(out.env).toMatchObject({ AZURE_CLIENT_ID: out.appId, AZURE_AUTHORITY_HOST: em.authorityHost, PGUSER: name })
    // the child's scoped failure waits for that principal's next token request, here
    const principal = em.principal(name)
    expect((await secretTokenRequest(em, principal.appId!, principal.secret!)).status).toBe(503)
    expect((await secretTokenRequest(em, principal.appId!, principal.secret!)).json().expires_in).toBe(300)
  })

  it('keeps the secret out of inspect output but hands it to whoever asks', async () => {
    const added = await remote.addPrincipal({ kind: 'servicePrincipal', name: `ctl-${randomUUID().slice(0, 8)}` })
    expect(added.secret).toBe(em.principal(added.name).secret)
    expect(inspect(added)).not.toContain(added.secret!)
    expect(inspect(remote, { depth: 5 })).not.toContain(remote.pg.adminPassword)
    // the snapshot includes what other processes added
    expect(remote.principals.map((p) => p.name)).toEqual(em.principals.map((p) => p.name))
    expect(remote.principals.map((p) => p.name)).toContain(added.name)
  })

  it('mints tokens, reads counters and the request log', async () => {
    const minted = await remote.mintToken({ oid: 'x' }, { audience: 'https://example.test' })
    expect(decodeJwt(minted).claims).toMatchObject({ oid: 'x', aud: 'https://example.test', tid: em.tenantId })
    const token = await remote.token('ctl-web', { lifetimeSeconds: 90 })
    const uti = decodeJwt(token).claims.uti
    const counters = await remote.counters()
    expect(counters.tokenRequests.byPrincipal['ctl-web']?.issued.map((t) => t.tokenId)).toContain(uti)
    expect(Array.isArray(await remote.requestLog())).toBe(true)
    await remote.knobs.set({ latencyMs: 5 })
    expect(em.knobs.get().latencyMs).toBe(5)
    await remote.knobs.reset()
    expect(em.knobs.get().latencyMs).toBe(0)
  })

  it('reports errors with the emulator code and hint', async () => {
    await expect(remote.token('nobody')).rejects.toMatchObject({ code: 'PRINCIPAL_NOT_FOUND' })
    await expect(
      remote.addPrincipal({ kind: 'managedIdentity', name: 'second', assignment: 'system' }),
    ).rejects.toMatchObject({
      code: 'PRINCIPAL_EXISTS',
    })
    await expect(remote.knobs.failNext({ mode: 'explode' as never })).rejects.toMatchObject({ code: 'INVALID_KNOB' })
    await expect(connectEmulator('http://127.0.0.1:9/nothing')).rejects.toMatchObject({ code: 'EMULATOR_NOT_RUNNING' })
    await expect(connectEmulator('not a url')).rejects.toMatchObject({ code: 'INVALID_CONTROL_URL' })
    await expect(connectEmulator(em.controlUrl.replace(/\/[^/]+$/, '/wrong-key'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    })
  })
})
