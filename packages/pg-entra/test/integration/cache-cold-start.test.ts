// Cold start from a shared store: a process whose file or Redis store already holds a usable token for its identity
// connects without any Entra request and without loading @azure/identity (loaded only when a refresh is due), and a
// fleet of 16 processes connecting at once on an empty store makes one token request between them. Real processes,
// real stores, the emulator counting requests for a principal of this test; every package a child resolves is
// recorded (test/telemetry/fixtures/record-imports.mjs).
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { type LineChild, spawnTsChild } from '../helpers/child-process.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import type { ColdStartChildConfig } from './fixtures/cold-start-child.js'

const CHILD = join(import.meta.dirname, 'fixtures', 'cold-start-child.ts')
const RECORDER = join(import.meta.dirname, '..', 'telemetry', 'fixtures', 'record-imports.mjs')
const FLEET = 16

type Emulator = Awaited<ReturnType<typeof useEmulator>>
type Principal = Awaited<ReturnType<Emulator['addPrincipal']>>
let emulator: Emulator
let redis: RedisServer
let root: string
let sequence = 0
const children: LineChild[] = []

beforeAll(async () => {
  emulator = await useEmulator()
  redis = await startRedisServer()
  root = mkdtempSync(join(tmpdir(), 'pg-entra-cold-start-'))
})
afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.exit('SIGKILL')))
})
afterAll(async () => {
  await redis?.dispose()
  if (root) rmSync(root, { recursive: true, force: true })
})

type StoreSpec = ColdStartChildConfig['store']

function fileStore(principal: Principal): StoreSpec {
  return { kind: 'file', dir: join(root, principal.name) }
}

function redisStore(principal: Principal): StoreSpec {
  // One key for the whole test: every child of a principal must read what the others wrote.
  const encryptionKey = randomBytes(32).toString('base64')
  return { kind: 'redis', url: redis.url, keyPrefix: `${principal.name}:`, encryptionKey }
}

function config(principal: Principal, store: StoreSpec): ColdStartChildConfig {
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
  }
}

interface Started {
  child: LineChild
  /** The bare package specifiers the child has resolved so far. */
  resolved(): string[]
}

async function startAll(configs: ColdStartChildConfig[]): Promise<Started[]> {
  const started = configs.map((each) => {
    const record = join(root, `imports-${++sequence}.txt`)
    const child = spawnTsChild(CHILD, [], {
      COLD_START_CHILD: JSON.stringify(each),
      RECORD_IMPORTS_FILE: record,
      NODE_OPTIONS: `--import ${RECORDER}`,
    })
    children.push(child)
    return {
      child,
      resolved: () => (existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean) : []),
    }
  })
  for (const { child } of started) expect(await child.nextLine()).toBe('ready')
  return started
}

interface Connected {
  ok: boolean
  user?: string
  requests?: number
  error?: string
}

async function connectAll(fleet: Started[]): Promise<Connected[]> {
  for (const { child } of fleet) child.send('connect')
  return Promise.all(fleet.map(async ({ child }) => JSON.parse(await child.nextLine()) as Connected))
}

async function principal(prefix: string): Promise<Principal> {
  return emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName(prefix) })
}

async function requestsOf(name: string): Promise<number> {
  return (await emulator.counters()).tokenRequests.byPrincipal[name]?.requests ?? 0
}

const loadsAzureIdentity = (resolved: string[]) => resolved.some((name) => name.startsWith('@azure/identity'))

describe.each([
  ['file', fileStore],
  ['Redis', redisStore],
] as const)('cold start with the %s store', (_label, storeFor) => {
  it('connects from a warm store with no Entra request and without loading @azure/identity', {
    timeout: 120_000,
  }, async () => {
    const sp = await principal('cold-warm')
    const store = storeFor(sp)
    const role = sp.roleName ?? sp.name

    const [first] = await startAll([config(sp, store)])
    expect(await connectAll([first!])).toEqual([{ ok: true, user: role, requests: 1 }])
    expect(await requestsOf(sp.name)).toBe(1)
    // The recorder sees @azure/identity where pg-entra does fetch: what the next assertion relies on.
    expect(loadsAzureIdentity(first!.resolved())).toBe(true)

    const [second] = await startAll([config(sp, store)])
    expect(await connectAll([second!])).toEqual([{ ok: true, user: role, requests: 0 }])
    expect(await requestsOf(sp.name)).toBe(1)
    expect(second!.resolved()).toContain('pg')
    expect(loadsAzureIdentity(second!.resolved())).toBe(false)
  })

  it(`makes one token request for a fleet of ${FLEET} processes connecting at once`, {
    timeout: 240_000,
  }, async () => {
    const sp = await principal('cold-fleet')
    const store = storeFor(sp)
    const fleet = await startAll(Array.from({ length: FLEET }, () => config(sp, store)))
    const results = await connectAll(fleet)
    expect(results.filter((result) => !result.ok)).toEqual([])
    expect(await requestsOf(sp.name)).toBe(1)
    expect(results.reduce((sum, result) => sum + (result.requests ?? 0), 0)).toBe(1)
    // Only the process that fetched loaded @azure/identity.
    expect(fleet.filter((each) => loadsAzureIdentity(each.resolved()))).toHaveLength(1)
  })
})
