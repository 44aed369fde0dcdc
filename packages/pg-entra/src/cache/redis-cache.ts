import { randomBytes } from 'node:crypto'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { type Clock, systemClock } from '../shared/clock.js'
import { decodeStoredToken, encodeStoredToken, identityHash } from './_stored-token.js'
import { createWarnings, type WarningListener } from './_warnings.js'
import { createTokenCipher, type EncryptionKey, type TokenCipher } from './encryption.js'
import type { Lease, StoredToken, TokenStore } from './token-store.js'

/** The slice of a node-redis (v5 or later) client pg-entra uses: `createClient()` after `connect()`. */
export interface NodeRedisClientLike {
  sendCommand(args: string[]): Promise<unknown>
}

/** The slice of an ioredis client (or Cluster) pg-entra uses. */
export interface IoRedisClientLike {
  call(command: string, args: string[]): Promise<unknown>
}

export type RedisClientLike = NodeRedisClientLike | IoRedisClientLike

export interface RedisCacheOptions {
  /** Prepended to every key pg-entra writes, with a `:` after it unless it ends with one (default `pg-entra`). */
  keyPrefix?: string
  /**
   * Encrypts each entry with AES-256-GCM: 32 bytes, or them as hex or base64 (`openssl rand -base64 32`). Give one
   * whenever someone who can read the Redis should not be able to connect to the database. A list seals with the
   * first key and opens with any, for rotation.
   */
  encryptionKey?: EncryptionKey | readonly EncryptionKey[]
  /** Bound on every Redis call, in ms (default 500): a slower answer counts as a miss and pg-entra fetches itself. */
  timeoutMs?: number
  /** Store failures, each followed by a miss; entraAuth also reports them as `warning` events. */
  onWarning?: WarningListener
  /** @internal Tests inject time. */
  clock?: Clock
}

export interface RedisTokenStore extends TokenStore {
  readonly kind: 'redis'
  discard(key: string, token: string): Promise<void>
  acquireLease(key: string, ttlMs: number): Promise<Lease | undefined>
  onWarning(listener: WarningListener): () => void
  /** Releases the leases this store holds. The client is the application's: it stays open. */
  close(): Promise<void>
}

const DEFAULT_PREFIX = 'pg-entra:'
const DEFAULT_TIMEOUT_MS = 500
/** How long the release of a lease we gave up on may wait in the client's queue for Redis to come back. */
const LATE_RELEASE_TIMEOUT_MS = 60_000
const HINT_DOWN = 'check that Redis is reachable; meanwhile each process fetches its own tokens'

/** Keeps the entry that outlives the other: PTTL is the stored token's remaining life (it was set with PX). */
const SET_IF_LONGER_LIVED = `local ttl = redis.call('PTTL', KEYS[1])
if ttl > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

const DELETE_IF_HELD = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/**
 * Shares tokens across a fleet through the application's own Redis client. Redis down, slow or holding junk is a
 * miss and a warning, never a failed connect.
 */
export function redisCache(client: RedisClientLike, options: RedisCacheOptions = {}): RedisTokenStore {
  const send = commandSender(client)
  const prefix = keyPrefixOf(options.keyPrefix)
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new PgEntraError('INVALID_OPTION', 'redisCache timeoutMs must be a positive number of milliseconds')
  }
  if ('encryptionKey' in options && (options.encryptionKey === undefined || options.encryptionKey === null)) {
    // `encryptionKey: process.env.X` with X unset must not quietly store tokens in clear.
    throw new PgEntraError('INVALID_OPTION', 'redisCache encryptionKey is given but undefined', {
      hint: 'set the variable that holds the key (openssl rand -base64 32), or leave encryptionKey out to store tokens unencrypted',
    })
  }
  const cipher: TokenCipher | undefined =
    options.encryptionKey === undefined ? undefined : createTokenCipher(options.encryptionKey)
  const clock = options.clock ?? systemClock
  const warnings = createWarnings('redis', () => clock.now(), options.onWarning)
  const held = new Set<Lease>()

  const tokenKey = (key: string) => `${prefix}token:${identityHash(key)}`
  const leaseKey = (key: string) => `${prefix}lease:${identityHash(key)}`

  function command(args: string[], limitMs = timeoutMs): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined
    const reply = send(args)
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${limitMs} ms`)), limitMs)
      timer.unref()
    })
    reply.catch(() => {}) // a reply that comes after the timeout must not become an unhandled rejection
    return Promise.race([reply, timeout]).finally(() => clearTimeout(timer))
  }

  function warnDown(action: string, error: unknown): void {
    warnings.warn(`Redis cache could not ${action}; using this process's memory`, { hint: HINT_DOWN, reason: error })
  }

  function ignore(why: string, hint: string): undefined {
    warnings.warn(`Redis cache entry ignored: ${why}`, { hint })
    return undefined
  }

  function decode(key: string, storeKey: string, reply: unknown): StoredToken | undefined {
    if (reply === null || reply === undefined) return undefined
    const text = typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString('utf8') : undefined
    if (text === undefined) return ignore('not a string', 'another program writes under this keyPrefix: give a new one')
    let plain = text
    if (cipher) {
      const opened = cipher.open(text, storeKey)
      if (opened === undefined) {
        return ignore(
          'it cannot be decrypted with this encryptionKey',
          'give every instance the same encryptionKey (or list the previous one during a rotation)',
        )
      }
      plain = opened
    } else if (text.startsWith('v1.')) {
      return ignore('it is encrypted and no encryptionKey was given', "give this instance the fleet's encryptionKey")
    }
    const token = decodeStoredToken(plain)
    if (!token) return ignore('corrupted', 'another program writes under this keyPrefix: give a new one')
    if (token.key !== key)
      return ignore('it holds a token for another identity', 'give each application its own keyPrefix')
    return token.expiresOnTimestamp > clock.now() ? token : undefined
  }

  /** The entry's token without warnings (the reader has already said why it refused it). */
  function decodeQuietly(key: string, storeKey: string, reply: unknown): StoredToken | undefined {
    const text = typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString('utf8') : undefined
    if (text === undefined) return undefined
    const plain = cipher ? cipher.open(text, storeKey) : text
    const token = plain === undefined ? undefined : decodeStoredToken(plain)
    return token?.key === key ? token : undefined
  }

  async function release(lease: Lease, name: string, nonce: string): Promise<void> {
    if (!held.delete(lease)) return
    try {
      await command(['EVAL', DELETE_IF_HELD, '1', name, nonce])
    } catch (error) {
      warnDown('release the refresh lease (it expires on its own)', error)
    }
  }

  return {
    kind: 'redis',
    async get(key) {
      const name = tokenKey(key)
      let reply: unknown
      try {
        reply = await command(['GET', name])
      } catch (error) {
        warnDown('read a token', error)
        return undefined
      }
      return decode(key, name, reply)
    },
    async set(token) {
      const ttlMs = Math.floor(token.expiresOnTimestamp - clock.now())
      if (ttlMs <= 0) return
      const name = tokenKey(token.key)
      const text = encodeStoredToken(token)
      const value = cipher ? cipher.seal(text, name) : text
      try {
        await command(['EVAL', SET_IF_LONGER_LIVED, '1', name, value, String(ttlMs)])
      } catch (error) {
        warnDown('store a token', error)
      }
    },
    async discard(key, token) {
      const name = tokenKey(key)
      try {
        const reply = await command(['GET', name])
        if (reply === null || reply === undefined) return
        // Compare the token inside (the value may be sealed), then delete only that very value.
        if (decodeQuietly(key, name, reply)?.token !== token) return
        await command(['EVAL', DELETE_IF_HELD, '1', name, String(reply)])
      } catch (error) {
        warnDown('remove a refused token', error)
      }
    },
    async acquireLease(key, ttlMs) {
      const name = leaseKey(key)
      const nonce = randomBytes(16).toString('hex')
      let reply: unknown
      try {
        reply = await command(['SET', name, nonce, 'PX', String(Math.max(1, Math.ceil(ttlMs))), 'NX'])
      } catch (error) {
        warnDown('take the refresh lease', error)
        // A client that queues commands while Redis is away (both do) may still run our SET later: queue its
        // release behind it, so that a lease nobody holds does not make the fleet wait for it to expire.
        command(['EVAL', DELETE_IF_HELD, '1', name, nonce], LATE_RELEASE_TIMEOUT_MS).catch(() => {})
        return { release: async () => {} } // cannot coordinate: let this instance fetch on its own
      }
      if (reply === null || reply === undefined) return undefined
      const lease: Lease = { release: () => release(lease, name, nonce) }
      held.add(lease)
      return lease
    },
    onWarning: (listener) => warnings.listen(listener),
    async close() {
      await Promise.all([...held].map((lease) => lease.release()))
    },
  }
}

function keyPrefixOf(keyPrefix: string | undefined): string {
  if (keyPrefix === undefined) return DEFAULT_PREFIX
  if (typeof keyPrefix !== 'string') throw new PgEntraError('INVALID_OPTION', 'redisCache keyPrefix must be a string')
  return keyPrefix === '' || keyPrefix.endsWith(':') ? keyPrefix : `${keyPrefix}:`
}

function commandSender(client: RedisClientLike): (args: string[]) => Promise<unknown> {
  // ioredis also has a sendCommand, taking its own Command object: look for its `call` first.
  if (typeof (client as Partial<IoRedisClientLike>)?.call === 'function') {
    const io = client as IoRedisClientLike
    return (args) => invoke(() => io.call(args[0]!, args.slice(1)))
  }
  if (typeof (client as Partial<NodeRedisClientLike>)?.sendCommand === 'function') {
    const nodeRedis = client as NodeRedisClientLike
    return (args) => invoke(() => nodeRedis.sendCommand(args))
  }
  throw new PgEntraError('INVALID_OPTION', 'redisCache needs a node-redis or ioredis client', {
    hint: 'node-redis: redisCache(await createClient({ url }).connect()); ioredis: redisCache(new Redis(url))',
  })
}

/** Turns a synchronous throw (a closed client) into a rejection. */
async function invoke(run: () => Promise<unknown>): Promise<unknown> {
  return run()
}
