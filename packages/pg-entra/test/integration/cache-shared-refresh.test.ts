// Real processes sharing one token through the file store and the Redis store: N processes connecting at once
// through the emulator make one token request per refresh (counted by the emulator, for a principal of this test),
// and a Redis that stops and comes back mid-run fails no connect.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { type LineChild, spawnTsChild } from '../helpers/child-process.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import type { EntraCacheChildConfig } from './fixtures/entra-cache-child.js'

const CHILD = join(import.meta.dirname, 'fixtures', 'entra-cache-child.ts')
const PROCESSES = 5
/** Short tokens roll over during the test: the token source refreshes them at half-life, about every 10 s. */
const TOKEN_LIFETIME_SECONDS = 20

type Emulator = Awaited<ReturnType<typeof useEmulator>>
let emulator: Emulator
let redis: RedisServer
let root: string
const children: LineChild[] = []

beforeAll(async () => {
  emulator = await useEmulator()
  redis = await startRedisServer()
  root = mkdtempSync(join(tmpdir(), 'pg-entra-shared-refresh-'))
})
afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.exit('SIGKILL')))
  if (!redis.running) await redis.start()
})
afterAll(async () => {
  await redis?.dispose()
  if (root) rmSync(root, { recursive: true, force: true })
})

async function newPrincipal(prefix: string) {
  const principal = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName(prefix) })
  await emulator.knobs.set({ principals: { [principal.name]: { tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS } } })
  return principal
}

function childConfig(principal: Awaited<ReturnType<typeof newPrincipal>>, store: EntraCacheChildConfig['store']) {
  return {
    store,
    pg: {
      host: emulator.pg.host,
      port: emulator.pg.port,
      database: emulator.pg.database,
      user: principal.roleName ?? principal.name,
      ca: emulator.ca,
    },
    entra: {
      tenantId: emulator.tenantId,
      clientId: principal.appId!,
      clientSecret: principal.secret!,
      authorityHost: emulator.authorityHost,
      authorityCa: emulator.ca,
    },
    refreshBeforeMinutes: 5,
  } satisfies EntraCacheChildConfig
}

async function startChildren(configs: EntraCacheChildConfig[]): Promise<LineChild[]> {
  const started = configs.map((config) => spawnTsChild(CHILD, [], { ENTRA_CACHE_CHILD: JSON.stringify(config) }))
  children.push(...started)
  for (const child of started) expect(await child.nextLine()).toBe('ready')
  return started
}

async function ask(all: LineChild[], line: string): Promise<string[]> {
  for (const child of all) child.send(line)
  return Promise.all(all.map((child) => child.nextLine()))
}

async function tokenRequests(name: string) {
  const counters = await emulator.counters()
  return counters.tokenRequests.byPrincipal[name] ?? { requests: 0, issued: [], failures: 0, failuresInjected: 0 }
}

/** The tokenIds the last `count` accepted connections of `role` carried. */
async function lastConnectionTokens(role: string, count: number): Promise<string[]> {
  const counters = await emulator.counters()
  return (counters.pg.byRole[role]?.tokenIds ?? []).slice(-count)
}

/** What each process and the emulator saw, for a failure message. */
async function explain(fleet: LineChild[], principalName: string): Promise<string> {
  const issued = (await tokenRequests(principalName)).issued.map(({ tokenId, issuedAt, via }) => ({
    tokenId,
    issuedAt,
    via,
  }))
  return JSON.stringify({ processes: await ask(fleet, 'stats'), issued, at: Math.floor(Date.now() / 1000) })
}

/**
 * Refreshes come about every 10 s (half of a 20 s token's life, minus up to 2 s of jitter), never sooner after the
 * previous token: tokens issued closer together than this belong to the same refresh, i.e. a duplicate request.
 */
const SAME_REFRESH_SECONDS = 5

async function expectOneRequestPerRefresh(configs: EntraCacheChildConfig[], principalName: string, role: string) {
  const fleet = await startChildren(configs)

  // Every process opens three connections at the same moment: one token request between them.
  expect(await ask(fleet, 'connect 3')).toEqual(fleet.map(() => 'ok'))
  const first = await tokenRequests(principalName)
  expect(first.requests, await explain(fleet, principalName)).toBe(1)
  expect(new Set(await lastConnectionTokens(role, 3 * fleet.length))).toEqual(new Set([first.issued[0]!.tokenId]))

  // The token rolls over twice while every process keeps connecting: each time one process refreshes and the
  // others take its token from the store.
  expect(await ask(fleet, 'loop start')).toEqual(fleet.map(() => 'looping'))
  await expect
    .poll(async () => (await tokenRequests(principalName)).issued.length, { timeout: 60_000, interval: 500 })
    .toBeGreaterThanOrEqual(3)
  const loops = (await ask(fleet, 'loop stop')).map((line) => JSON.parse(line) as { failed: number; errors: string[] })
  for (const each of loops) expect(each.errors).toEqual([])

  const { issued, requests } = await tokenRequests(principalName)
  const gaps = issued.slice(1).map((token, i) => token.issuedAt - issued[i]!.issuedAt)
  const explanation = await explain(fleet, principalName)
  for (const gap of gaps) expect(gap, explanation).toBeGreaterThanOrEqual(SAME_REFRESH_SECONDS)
  expect(requests).toBe(issued.length)

  const stats = (await ask(fleet, 'stats')).map(
    (line) => JSON.parse(line) as { requests: number; storeWarnings: number },
  )
  expect(stats.reduce((sum, each) => sum + each.requests, 0)).toBe(requests)
  for (const each of stats) expect(each.storeWarnings).toBe(0)
}

describe('a fleet of processes sharing one token', () => {
  it('makes one token request per refresh with the file store', { timeout: 120_000 }, async () => {
    const principal = await newPrincipal('cache-file')
    const dir = join(root, principal.name)
    const configs = Array.from({ length: PROCESSES }, () => childConfig(principal, { kind: 'file', dir }))
    await expectOneRequestPerRefresh(configs, principal.name, principal.roleName ?? principal.name)
  })

  it('makes one token request per refresh with the Redis store, node-redis and ioredis side by side', {
    timeout: 120_000,
  }, async () => {
    const principal = await newPrincipal('cache-redis')
    const encryptionKey = randomBytes(32).toString('base64')
    const keyPrefix = `${principal.name}:`
    const configs = Array.from({ length: PROCESSES }, (_, i) =>
      childConfig(principal, { kind: i % 2 ? 'ioredis' : 'node-redis', url: redis.url, keyPrefix, encryptionKey }),
    )
    await expectOneRequestPerRefresh(configs, principal.name, principal.roleName ?? principal.name)
  })

  it('fails no connect while Redis stops and comes back mid-run', { timeout: 180_000 }, async () => {
    const principal = await newPrincipal('cache-redis-down')
    const encryptionKey = randomBytes(32).toString('base64')
    const configs = Array.from({ length: 3 }, (_, i) =>
      childConfig(principal, {
        kind: i % 2 ? 'ioredis' : 'node-redis',
        url: redis.url,
        keyPrefix: `${principal.name}:`,
        encryptionKey,
      }),
    )
    const fleet = await startChildren(configs)
    expect(await ask(fleet, 'loop start')).toEqual(fleet.map(() => 'looping'))
    await expect.poll(async () => (await tokenRequests(principal.name)).requests, { timeout: 30_000 }).toBe(1)

    // Down across a refresh: each process fetches its own token and keeps connecting.
    await redis.stop()
    await expect
      .poll(async () => (await tokenRequests(principal.name)).requests, { timeout: 30_000 })
      .toBeGreaterThan(1)
    const duringOutage = (await tokenRequests(principal.name)).requests

    // Back across the next refresh: sharing resumes.
    await redis.start()
    await expect
      .poll(async () => (await tokenRequests(principal.name)).requests, { timeout: 30_000 })
      .toBeGreaterThan(duringOutage)

    const loops = (await ask(fleet, 'loop stop')).map(
      (line) => JSON.parse(line) as { ok: number; failed: number; errors: string[] },
    )
    for (const each of loops) {
      expect(each.errors).toEqual([])
      expect(each.failed).toBe(0)
      expect(each.ok).toBeGreaterThan(0)
    }
    const stats = (await ask(fleet, 'stats')).map((line) => JSON.parse(line) as { storeWarnings: number })
    expect(stats.some((each) => each.storeWarnings > 0)).toBe(true)
  })
})
