// redisCache against a real redis-server on loopback, through both clients pg-entra supports.
import { createHash, randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type RedisClientLike, type RedisTokenStore, redisCache } from '../../src/cache/redis-cache.js'
import type { PgEntraError } from '../../src/errors/pg-entra-error.js'
import type { Clock } from '../../src/shared/clock.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import { HOUR, KEY, OTHER_KEY, storedToken } from '../helpers/stored-token.js'

interface ClientUnderTest {
  client: RedisClientLike
  /** Raw commands for the test's own checks, on the same connection the store uses. */
  raw(...args: string[]): Promise<unknown>
  close(): Promise<void>
}

const clients: Record<string, (url: string) => Promise<ClientUnderTest>> = {
  'node-redis': async (url) => {
    const client = createClient({ url, socket: { reconnectStrategy: () => 100, connectTimeout: 1_000 } })
    client.on('error', () => {}) // the application's client; a down Redis emits errors it must handle
    await client.connect()
    return {
      client,
      raw: (...args) => client.sendCommand(args),
      close: async () => {
        client.destroy()
      },
    }
  },
  ioredis: async (url) => {
    const client = new Redis(url, { retryStrategy: () => 100, maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve())
      client.once('error', reject)
    })
    return {
      client,
      raw: (command, ...args) => client.call(command, args),
      close: async () => {
        client.disconnect()
      },
    }
  },
}

const token = storedToken

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

let server: RedisServer
beforeAll(async () => {
  server = await startRedisServer()
})
afterAll(async () => {
  await server?.dispose()
})

describe.each(Object.keys(clients))('redisCache with %s', (name) => {
  const open: ClientUnderTest[] = []
  const stores: RedisTokenStore[] = []
  let prefix = ''

  async function connect(): Promise<ClientUnderTest> {
    const made = await clients[name]!(server.url)
    open.push(made)
    return made
  }

  function store(client: RedisClientLike, options: Parameters<typeof redisCache>[1] = {}) {
    const warnings: PgEntraError[] = []
    const made = redisCache(client, { keyPrefix: prefix, onWarning: (error) => warnings.push(error), ...options })
    stores.push(made)
    return Object.assign(made, { warnings })
  }

  beforeAll(() => {
    prefix = `test:${name}:${randomBytes(4).toString('hex')}:`
  })
  afterEach(async () => {
    if (!server.running) await server.start()
    await Promise.all(stores.splice(0).map((made) => made.close()))
    await Promise.all(open.splice(0).map((made) => made.close()))
    prefix = `test:${name}:${randomBytes(4).toString('hex')}:`
  })

  it('shares a token between stores on different connections, under a key derived from the identity', async () => {
    const writer = store((await connect()).client)
    const reader = await connect()
    const stored = token()
    await writer.set(stored)

    expect(await store(reader.client).get(KEY)).toEqual(stored)
    expect(await store(reader.client).get(OTHER_KEY)).toBeUndefined()
    const keys = (await reader.raw('KEYS', `${prefix}*`)) as string[]
    expect(keys).toEqual([`${prefix}token:${sha256(KEY)}`])
    expect(writer.warnings).toEqual([])
  })

  it('expires the entry with the token', async () => {
    const { client, raw } = await connect()
    const cache = store(client)
    await cache.set(token({ expiresOnTimestamp: Date.now() + 10 * 60_000 }))
    const pttl = Number(await raw('PTTL', `${prefix}token:${sha256(KEY)}`))
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(10 * 60_000)

    await cache.set(token({ key: OTHER_KEY, expiresOnTimestamp: Date.now() + 150 }))
    await expect.poll(() => raw('EXISTS', `${prefix}token:${sha256(OTHER_KEY)}`), { timeout: 30_000 }).toBe(0)
    expect(await cache.get(OTHER_KEY)).toBeUndefined()
  })

  it('treats a token past its expiry as a miss and never stores one', async () => {
    const { client, raw } = await connect()
    let now = Date.now()
    const clock: Clock = { now: () => now, setTimer: () => ({ cancel() {} }) }
    const cache = store(client, { clock })
    await cache.set(token({ expiresOnTimestamp: now + 60_000 }))
    now += 60_001
    expect(await cache.get(KEY)).toBeUndefined()

    await cache.set(token({ key: OTHER_KEY, expiresOnTimestamp: now - 1 }))
    expect(await raw('EXISTS', `${prefix}token:${sha256(OTHER_KEY)}`)).toBe(0)
  })

  it('keeps the longer-lived token when an older one is written after it', async () => {
    const { client } = await connect()
    const cache = store(client)
    const fresh = token({ expiresOnTimestamp: Date.now() + 2 * HOUR })
    await cache.set(fresh)
    await cache.set(token({ expiresOnTimestamp: Date.now() + HOUR }))
    expect((await cache.get(KEY))?.token).toBe(fresh.token)
  })

  it.each([
    ['in clear', {}],
    ['sealed', { encryptionKey: randomBytes(32) }],
  ])('discards an entry a reader refused, only while it still holds that token (%s)', async (_how, options) => {
    const { client } = await connect()
    const cache = store(client, options)
    const planted = token({ expiresOnTimestamp: Date.now() + 2 * HOUR })
    await cache.set(planted)
    await cache.discard(KEY, 'another token')
    expect((await cache.get(KEY))?.token).toBe(planted.token)
    await cache.discard(KEY, planted.token)
    expect(await cache.get(KEY)).toBeUndefined()
    const own = token()
    await cache.set(own)
    expect((await cache.get(KEY))?.token).toBe(own.token)
    await cache.discard(OTHER_KEY, own.token)
    expect((await cache.get(KEY))?.token).toBe(own.token)
    expect(cache.warnings).toEqual([])
  })

  describe('encryption', () => {
    const keyA = randomBytes(32).toString('base64')
    const keyB = randomBytes(32).toString('hex')

    it('stores ciphertext that only the same key opens', async () => {
      const { client, raw } = await connect()
      const stored = token()
      await store(client, { encryptionKey: keyA }).set(stored)

      const value = String(await raw('GET', `${prefix}token:${sha256(KEY)}`))
      expect(value).not.toContain(stored.token)
      expect(value).not.toContain(KEY)
      expect(await store(client, { encryptionKey: keyA }).get(KEY)).toEqual(stored)

      const wrongKey = store(client, { encryptionKey: keyB })
      expect(await wrongKey.get(KEY)).toBeUndefined()
      expect(wrongKey.warnings.map((error) => error.code)).toEqual(['CACHE_ERROR'])
      expect(wrongKey.warnings[0]!.message).toContain('cannot be decrypted')

      const noKey = store(client)
      expect(await noKey.get(KEY)).toBeUndefined()
      expect(noKey.warnings[0]!.message).toContain('no encryptionKey')
    })

    it('opens entries sealed with a previous key during a rotation, and seals with the first', async () => {
      const { client } = await connect()
      const stored = token()
      await store(client, { encryptionKey: keyA }).set(stored)
      const rotating = store(client, { encryptionKey: [keyB, keyA] })
      expect(await rotating.get(KEY)).toEqual(stored)

      const renewed = token({ expiresOnTimestamp: Date.now() + 2 * HOUR })
      await rotating.set(renewed)
      expect(await store(client, { encryptionKey: keyB }).get(KEY)).toEqual(renewed)
      expect(await store(client, { encryptionKey: keyA }).get(KEY)).toBeUndefined()
    })

    it('refuses a value copied under another identity key', async () => {
      const { client, raw } = await connect()
      await store(client, { encryptionKey: keyA }).set(token({ key: OTHER_KEY }))
      const copied = String(await raw('GET', `${prefix}token:${sha256(OTHER_KEY)}`))
      await raw('SET', `${prefix}token:${sha256(KEY)}`, copied, 'PX', '60000')
      const reader = store(client, { encryptionKey: keyA })
      expect(await reader.get(KEY)).toBeUndefined()
      expect(reader.warnings).toHaveLength(1)
    })

    it('refuses an encryptionKey that is present but undefined (an unset variable), rather than store in clear', () => {
      const client = { sendCommand: async () => null }
      expect(() => redisCache(client, { encryptionKey: process.env.PG_ENTRA_TEST_UNSET_KEY })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('undefined') }),
      )
      expect(() => redisCache(client, {})).not.toThrow()
    })

    it('rejects a key that is not 256 bits, without echoing it', () => {
      const short = 'c2hvcnQta2V5'
      let caught: unknown
      try {
        redisCache({ sendCommand: async () => null }, { encryptionKey: short })
      } catch (error) {
        caught = error
      }
      expect(caught).toMatchObject({ code: 'INVALID_OPTION', hint: expect.stringContaining('openssl rand') })
      expect(inspect(caught)).not.toContain(short)
    })
  })

  it('treats junk, a foreign identity and a wrong type as a miss with a warning', async () => {
    const { client, raw } = await connect()
    const cache = store(client)
    const name = `${prefix}token:${sha256(KEY)}`

    await raw('SET', name, 'not json at all')
    expect(await cache.get(KEY)).toBeUndefined()

    await store(client).set(token({ key: OTHER_KEY }))
    await raw('SET', name, String(await raw('GET', `${prefix}token:${sha256(OTHER_KEY)}`)))
    expect(await cache.get(KEY)).toBeUndefined()

    await raw('DEL', name)
    await raw('HSET', name, 'token', 'x')
    expect(await cache.get(KEY)).toBeUndefined()
    const replacing = token()
    await cache.set(replacing) // SET replaces a value of any type
    expect((await cache.get(KEY))?.token).toBe(replacing.token)

    expect(cache.warnings.map((error) => error.message)).toEqual([
      'Redis cache entry ignored: corrupted',
      'Redis cache entry ignored: it holds a token for another identity',
      "Redis cache could not read a token; using this process's memory",
    ])
    for (const warning of cache.warnings) expect(warning.code).toBe('CACHE_ERROR')
  })

  describe('refresh lease', () => {
    it('goes to exactly one of many concurrent instances, and back after release', async () => {
      const connections = await Promise.all(Array.from({ length: 4 }, () => connect()))
      const contenders = Array.from({ length: 24 }, (_, i) => store(connections[i % connections.length]!.client))
      const leases = await Promise.all(contenders.map((cache) => cache.acquireLease(KEY, 30_000)))
      const winners = leases.filter((lease) => lease !== undefined)
      expect(winners).toHaveLength(1)

      expect(await contenders[0]!.acquireLease(OTHER_KEY, 30_000)).toBeDefined() // leases are per identity
      await winners[0]!.release()
      expect(await contenders[1]!.acquireLease(KEY, 30_000)).toBeDefined()
    })

    it("expires, and a late release does not remove the next holder's lease", async () => {
      const { client, raw } = await connect()
      const first = await store(client).acquireLease(KEY, 100)
      expect(first).toBeDefined()
      await expect.poll(() => raw('EXISTS', `${prefix}lease:${sha256(KEY)}`), { timeout: 30_000 }).toBe(0)
      const second = await store(client).acquireLease(KEY, 30_000)
      expect(second).toBeDefined()

      await first!.release()
      expect(await store(client).acquireLease(KEY, 30_000)).toBeUndefined()
      await second!.release()
      expect(await store(client).acquireLease(KEY, 30_000)).toBeDefined()
    })
  })

  describe('Redis down or slow', () => {
    it('answers a miss and grants a local lease while Redis is stopped, and recovers when it is back', async () => {
      const { client } = await connect()
      const cache = store(client, { timeoutMs: 300 })
      const stored = token()
      await cache.set(stored)

      await server.stop()
      expect(await cache.get(KEY)).toBeUndefined()
      await cache.set(token())
      const lease = await cache.acquireLease(KEY, 30_000)
      expect(lease).toBeDefined()
      await lease!.release()
      expect(cache.warnings.length).toBeGreaterThan(0)
      for (const warning of cache.warnings) {
        expect(warning.code).toBe('CACHE_ERROR')
        expect(inspect(warning)).not.toContain(stored.token)
      }

      await server.start() // an empty Redis: --save '' keeps nothing
      // A client that queued the lease's SET while Redis was down replays it now: its release follows it.
      await expect.poll(() => cache.acquireLease(KEY, 30_000), { timeout: 30_000 }).toBeDefined()
      // node-redis replays the set it queued while Redis was down: the later token must outlive it.
      const renewed = token({ expiresOnTimestamp: Date.now() + 2 * HOUR })
      await expect
        .poll(
          async () => {
            await cache.set(renewed)
            return (await cache.get(KEY))?.token
          },
          { timeout: 10_000 },
        )
        .toBe(renewed.token)
    })

    it('never rejects a get while Redis is stopped and restarted under load', async () => {
      const { client } = await connect()
      const cache = store(client, { timeoutMs: 200 })
      await cache.set(token())
      let running = true
      const outcomes = { hit: 0, miss: 0, failed: 0 }
      const load = (async () => {
        while (running) {
          await cache.get(KEY).then(
            (found) => (found ? outcomes.hit++ : outcomes.miss++),
            () => outcomes.failed++,
          )
        }
      })()
      await expect.poll(() => outcomes.hit, { timeout: 30_000 }).toBeGreaterThan(0)
      await server.stop()
      const missesBefore = outcomes.miss
      await expect.poll(() => outcomes.miss, { timeout: 30_000 }).toBeGreaterThan(missesBefore)
      await server.start()
      await cache.set(token())
      const hitsBefore = outcomes.hit
      await expect
        .poll(
          async () => {
            await cache.set(token())
            return outcomes.hit
          },
          { timeout: 10_000 },
        )
        .toBeGreaterThan(hitsBefore)
      running = false
      await load
      expect(outcomes.failed).toBe(0)
    })

    it('answers a miss when Redis is too slow', async () => {
      const { client } = await connect()
      const admin = await connect()
      const cache = store(client, { timeoutMs: 150 })
      await cache.set(token())
      await admin.raw('CLIENT', 'PAUSE', '1000', 'ALL')
      try {
        expect(await cache.get(KEY)).toBeUndefined()
        expect(cache.warnings[0]?.details.reason).toContain('no answer within 150 ms')
      } finally {
        await admin.raw('CLIENT', 'UNPAUSE')
      }
    })
  })
})

describe('redisCache options', () => {
  it('separates the key prefix with a colon unless it ends with one', async () => {
    const names: string[] = []
    const client = {
      sendCommand: async (args: string[]) => {
        names.push(args[1]!)
        return null
      },
    }
    await redisCache(client, { keyPrefix: 'my-app' }).get(KEY)
    await redisCache(client, { keyPrefix: 'my-app:' }).get(KEY)
    await redisCache(client).get(KEY)
    expect(names).toEqual([
      `my-app:token:${sha256(KEY)}`,
      `my-app:token:${sha256(KEY)}`,
      `pg-entra:token:${sha256(KEY)}`,
    ])
  })

  it('refuses something that is not a Redis client', () => {
    expect(() => redisCache({} as RedisClientLike)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }))
  })

  it('turns a client that throws synchronously into a miss', async () => {
    const warnings: PgEntraError[] = []
    const cache = redisCache(
      {
        sendCommand() {
          throw new Error('The client is closed')
        },
      },
      { onWarning: (error) => warnings.push(error) },
    )
    expect(await cache.get(KEY)).toBeUndefined()
    expect(warnings[0]?.details.reason).toBe('Error: The client is closed')
  })
})
