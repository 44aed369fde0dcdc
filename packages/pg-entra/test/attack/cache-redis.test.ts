// Someone who can write to the application's Redis (with or without its encryption key) puts another principal's
// genuine, emulator-issued token under this application's key. pg-entra must refuse it (a CACHE_ERROR warning that
// does not quote it), fetch its own, and connect as itself: against the real emulator, a real redis-server, pg.
import { inspect } from 'node:util'
import pg from 'pg'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth, EntraAuthOptions } from '../../src/auth/types.js'
import { decodeStoredToken, encodeStoredToken } from '../../src/cache/_stored-token.js'
import { createTokenCipher } from '../../src/cache/encryption.js'
import { redisCache } from '../../src/cache/redis-cache.js'
import type { PgEntraError } from '../../src/errors/pg-entra-error.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import { type Emu, frontOf, type Principal, seenBy, spOptions } from '../reliability/_reliability.js'

const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64')

type RedisClient = ReturnType<typeof createClient>

let emu: Emu
let server: RedisServer
let redis: RedisClient
beforeAll(async () => {
  emu = await useEmulator()
  server = await startRedisServer()
  redis = createClient({ url: server.url })
  redis.on('error', () => {})
  await redis.connect()
})
afterAll(async () => {
  redis?.destroy()
  await server?.dispose()
})

/** The one token entry under `prefix` (the application's), as the attacker finds it in Redis. */
async function onlyEntry(prefix: string): Promise<string> {
  const names = (await redis.sendCommand(['KEYS', `${prefix}:token:*`])) as string[]
  expect(names).toHaveLength(1)
  return names[0]!
}

/**
 * Rewrites the entry `name` to hold `token` (living an hour, so that it looks better than the application's own),
 * keeping the identity key inside it; with `encryptionKey`, opened and sealed again the way the store does.
 */
async function poison(name: string, token: string, encryptionKey?: string): Promise<void> {
  const raw = (await redis.sendCommand(['GET', name])) as string
  const cipher = encryptionKey ? createTokenCipher(encryptionKey) : undefined
  const entry = decodeStoredToken(cipher ? cipher.open(raw, name)! : raw)
  expect(entry).toBeDefined()
  const expiresOnTimestamp = Date.now() + 3_600_000
  const text = encodeStoredToken({ ...entry!, token, expiresOnTimestamp, fetchedAt: Date.now() })
  await redis.sendCommand(['SET', name, cipher ? cipher.seal(text, name) : text, 'PX', '3600000'])
}

function recorded(auth: EntraAuth): PgEntraError[] {
  const warnings: PgEntraError[] = []
  auth.on((event) => {
    if (event.type === 'warning') warnings.push(event.error)
  })
  return warnings
}

/** Connects as `user` (or, without one, as the user the token names) and says who the database thinks it is. */
async function connectedAs(auth: EntraAuth, user?: string): Promise<string> {
  const client = new pg.Client({ ...frontOf(emu), user: user ?? (await auth.principal()), password: auth.password })
  await client.connect()
  try {
    return (await client.query<{ u: string }>('select current_user as u')).rows[0]!.u
  } finally {
    await client.end()
  }
}

function expectRefused(warnings: PgEntraError[], planted: string, reason: RegExp): void {
  const refusals = warnings.filter((error) => error.details.action === 'check')
  expect(refusals.map((error) => error.code)).toEqual(['CACHE_ERROR'])
  expect(refusals[0]!.message).toMatch(reason)
  const printed = `${inspect(refusals[0], { depth: 10 })} ${JSON.stringify(refusals[0])}`
  expect(printed).not.toContain(planted)
  expect(printed).not.toContain(planted.split('.')[2])
}

describe.each([
  ['without encryption', undefined],
  ['with encryption (the attacker has the key)', ENCRYPTION_KEY],
])('a poisoned Redis entry, %s, is refused and the app connects as itself', (_how, encryptionKey) => {
  let a: Principal
  let b: Principal
  beforeAll(async () => {
    a = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('poison-a') })
    b = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('poison-b') })
  })

  it("a service principal refuses another principal's token before it has fetched any", async () => {
    const prefix = uniqueName('sp')
    const options = (): EntraAuthOptions => ({
      ...spOptions(emu, a),
      cache: redisCache(redis, { keyPrefix: prefix, ...(encryptionKey ? { encryptionKey } : {}) }),
    })
    const first = entraAuth(options())
    await first.token() // writes this application's entry
    await eventuallyStored(prefix)
    await first.close()
    const name = await onlyEntry(prefix)
    const planted = await emu.token(b.name)
    await poison(name, planted, encryptionKey)

    const auth = entraAuth(options()) // a new process of the same application: same key, nothing fetched yet
    const warnings = recorded(auth)
    try {
      const token = await auth.token()
      expect(token.token).not.toBe(planted)
      expect((await auth.identity()).objectId).toBe(a.objectId)
      const before = await seenBy(emu, a)
      expect(await connectedAs(auth, a.roleName)).toBe(a.roleName)
      const after = await seenBy(emu, a)
      expect(after.accepted - before.accepted).toBe(1)
      expect(after.rejected - before.rejected).toBe(0) // the planted token was never sent
      expectRefused(warnings, planted, new RegExp(`client \\(appid ${b.appId}\\) is not ${a.appId}`))
      // The planted entry, though it outlived ours, was removed and ours took its place.
      expect(await eventuallyHolds(name, token.token, encryptionKey)).toBe(true)
    } finally {
      await auth.close()
    }
  })

  it('an app that takes its user from the token, with its own credential, refuses a token of another user once it has fetched its own', async () => {
    const userA = await emu.addPrincipal({ kind: 'user', upn: `${uniqueName('poison-ua')}@example.org` })
    const userB = await emu.addPrincipal({ kind: 'user', upn: `${uniqueName('poison-ub')}@example.org` })
    const prefix = uniqueName('user')
    const auth = entraAuth({
      credential: {
        getToken: async () => ({ token: await emu.token(userA.name), expiresOnTimestamp: Date.now() + 3_000_000 }),
      },
      cache: redisCache(redis, { keyPrefix: prefix, ...(encryptionKey ? { encryptionKey } : {}) }),
    })
    const warnings = recorded(auth)
    try {
      const own = await auth.token()
      await eventuallyStored(prefix)
      const planted = await emu.token(userB.name)
      await poison(await onlyEntry(prefix), planted, encryptionKey)
      auth.invalidate(own.token) // say the database refused it: the next token comes from the store or the credential

      expect(await auth.principal()).toBe(userA.upn)
      expect((await auth.token()).token).not.toBe(planted)
      expect(await connectedAs(auth)).toBe(userA.roleName)
      expectRefused(warnings, planted, /the identity this process fetched tokens for/)
    } finally {
      await auth.close()
    }
  })
})

/** Whether the entry `name` comes to hold `token` (the store writes after token() has resolved). */
async function eventuallyHolds(name: string, token: string, encryptionKey?: string): Promise<boolean> {
  const cipher = encryptionKey ? createTokenCipher(encryptionKey) : undefined
  for (let attempt = 0; attempt < 100; attempt++) {
    const raw = (await redis.sendCommand(['GET', name])) as string | null
    const text = raw === null ? undefined : cipher ? cipher.open(raw, name) : raw
    if (text !== undefined && decodeStoredToken(text)?.token === token) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/** The store's write is not awaited by token(): wait until the entry is there. */
async function eventuallyStored(prefix: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const names = (await redis.sendCommand(['KEYS', `${prefix}:token:*`])) as string[]
    if (names.length > 0) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`no entry appeared under ${prefix}`)
}
