// fileCache on a real file system: atomic writes, permissions, entries it must not trust, and its lock.
import { createHash } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FileCacheOptions, fileCache } from '../../src/cache/file-cache.js'
import type { PgEntraError } from '../../src/errors/pg-entra-error.js'
import type { Clock } from '../../src/shared/clock.js'
import { HOUR, KEY, OTHER_KEY, storedToken } from '../helpers/stored-token.js'

const FOREIGN_UID = 4321

const token = storedToken

const hash = (key: string) => createHash('sha256').update(key).digest('hex')

let root: string
let dir: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pg-entra-file-cache-'))
  dir = join(root, 'cache')
})
afterEach(() => {
  rmSync(root, { recursive: true, force: true })
})

function store(options: Partial<FileCacheOptions> = {}) {
  const warnings: PgEntraError[] = []
  const made = fileCache({ dir, onWarning: (error) => warnings.push(error), ...options })
  return Object.assign(made, { warnings })
}

const entryFile = (key = KEY) => join(dir, `${hash(key)}.json`)
const lockFile = (key = KEY) => join(dir, `${hash(key)}.lock`)

describe('fileCache entries', () => {
  it('shares a token between stores, one file per identity', async () => {
    const stored = token()
    const writer = store()
    await writer.set(stored)
    const reader = store()
    expect(await reader.get(KEY)).toEqual(stored)
    expect(await reader.get(OTHER_KEY)).toBeUndefined()
    expect(readdirSync(dir)).toEqual([`${hash(KEY)}.json`])
    expect([...writer.warnings, ...reader.warnings]).toEqual([])
  })

  it('creates the directory 0700 and files 0600 whatever the umask; uses an existing 0755 one as it is, with a warning', async () => {
    const previous = process.umask(0)
    try {
      await store().set(token())
    } finally {
      process.umask(previous)
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(entryFile()).mode & 0o777).toBe(0o600)

    const open = join(root, 'open')
    mkdirSync(open, { mode: 0o755 })
    chmodSync(open, 0o755)
    const warnings: PgEntraError[] = []
    const existing = fileCache({ dir: open, onWarning: (error) => warnings.push(error) })
    const stored = token()
    await existing.set(stored)
    expect(await existing.get(KEY)).toEqual(stored)
    expect(statSync(open).mode & 0o777).toBe(0o755) // not pg-entra's to change
    expect(warnings.map((error) => error.message)).toEqual([expect.stringContaining('can be listed by other users')])
  })

  it('writes atomically: concurrent readers never see a partial entry and no temporary file is left', async () => {
    const writers = Array.from({ length: 4 }, () => store())
    const readers = Array.from({ length: 4 }, () => store())
    const big = (n: number) =>
      token({ token: `eyJ.${'x'.repeat(40_000)}.${n}`, expiresOnTimestamp: Date.now() + HOUR + n })
    await writers[0]!.set(big(0))
    const seen = new Set<string>()
    await Promise.all([
      ...writers.map(async (writer, w) => {
        for (let i = 1; i <= 25; i++) await writer.set(big(i * 10 + w))
      }),
      ...readers.map(async (reader) => {
        for (let i = 0; i < 60; i++) {
          const found = await reader.get(KEY)
          expect(found).toBeDefined()
          seen.add(found!.token)
        }
      }),
    ])
    expect(seen.size).toBeGreaterThan(1)
    for (const each of [...writers, ...readers]) expect(each.warnings).toEqual([])
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([])
  })

  it('discards an entry a reader refused, only while it still holds that token', async () => {
    const cache = store()
    const planted = token({ expiresOnTimestamp: Date.now() + 2 * HOUR })
    await cache.set(planted)
    await cache.discard(KEY, 'another token')
    expect((await cache.get(KEY))?.token).toBe(planted.token)
    await cache.discard(KEY, planted.token)
    expect(readdirSync(dir)).toEqual([])
    await cache.discard(KEY, planted.token) // nothing left to remove: no warning
    const own = token()
    await cache.set(own)
    expect((await cache.get(KEY))?.token).toBe(own.token)
    expect(cache.warnings).toEqual([])
  })

  it('keeps the longer-lived token when an older one is written after it', async () => {
    const fresh = token({ expiresOnTimestamp: Date.now() + 2 * HOUR })
    await store().set(fresh)
    await store().set(token())
    expect((await store().get(KEY))?.token).toBe(fresh.token)
  })

  it('ignores and replaces a file owned by another user', async () => {
    const stored = token()
    await store().set(stored)
    chownSync(entryFile(), FOREIGN_UID, FOREIGN_UID)
    const cache = store()
    expect(await cache.get(KEY)).toBeUndefined()
    expect(cache.warnings[0]).toMatchObject({
      code: 'CACHE_ERROR',
      message: expect.stringContaining(`owned by uid ${FOREIGN_UID}`),
    })

    const replacement = token()
    await cache.set(replacement)
    expect(statSync(entryFile()).uid).toBe(process.getuid!())
    expect(await cache.get(KEY)).toEqual(replacement)
  })

  it('ignores and replaces a file other users could read', async () => {
    await store().set(token())
    chmodSync(entryFile(), 0o644)
    const cache = store()
    expect(await cache.get(KEY)).toBeUndefined()
    expect(cache.warnings[0]!.message).toContain('readable or writable by other users')
    await cache.set(token())
    expect(statSync(entryFile()).mode & 0o777).toBe(0o600)
    expect(await cache.get(KEY)).toBeDefined()
  })

  it.each([
    ['junk', 'not json'],
    ['truncated JSON', '{"format":1,"key":"'],
    ['another format', JSON.stringify({ format: 99, key: KEY, token: 't', expiresOnTimestamp: Date.now() + HOUR })],
    [
      'an empty token',
      JSON.stringify({ format: 1, key: KEY, token: '', expiresOnTimestamp: Date.now() + HOUR, fetchedAt: 1 }),
    ],
  ])('ignores and replaces a corrupted entry (%s)', async (_, content) => {
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(entryFile(), content, { mode: 0o600 })
    const cache = store()
    expect(await cache.get(KEY)).toBeUndefined()
    expect(cache.warnings[0]!.message).toContain('corrupted')
    const replacement = token()
    await cache.set(replacement)
    expect(await cache.get(KEY)).toEqual(replacement)
  })

  it("ignores an entry holding another identity's token", async () => {
    const other = token({ key: OTHER_KEY })
    await store().set(other)
    writeFileSync(entryFile(KEY), readFileSync(entryFile(OTHER_KEY)), { mode: 0o600 })
    const cache = store()
    expect(await cache.get(KEY)).toBeUndefined()
    expect(cache.warnings[0]!.message).toContain('another identity')
    expect(inspect(cache.warnings)).not.toContain(other.token)
    await cache.set(token())
    expect((await cache.get(KEY))?.key).toBe(KEY)
  })

  it('treats an expired entry as a miss', async () => {
    let now = Date.now()
    const clock: Clock = { now: () => now, setTimer: () => ({ cancel() {} }) }
    const cache = store({ clock })
    await cache.set(token({ expiresOnTimestamp: now + 60_000 }))
    expect(await cache.get(KEY)).toBeDefined()
    now += 60_000
    expect(await cache.get(KEY)).toBeUndefined()
    expect(cache.warnings).toEqual([])
  })

  it('refuses a directory owned by another user: a miss and a warning, and the process fetches on its own', async () => {
    mkdirSync(dir, { mode: 0o700 })
    chownSync(dir, FOREIGN_UID, FOREIGN_UID)
    const cache = store()
    await cache.set(token())
    expect(await cache.get(KEY)).toBeUndefined()
    const lease = await cache.acquireLease(KEY, 10_000)
    expect(lease).toBeDefined()
    await lease!.release()
    expect(cache.warnings[0]).toMatchObject({ code: 'CACHE_ERROR', message: expect.stringContaining('belongs to uid') })
    expect(readdirSync(dir)).toEqual([])
  })

  it('makes the directory again when it vanished (a temp cleaner) and takes the lease in it', async () => {
    const cache = store()
    await cache.set(token())
    rmSync(dir, { recursive: true })
    const stored = token()
    await cache.set(stored)
    expect(await cache.get(KEY)).toEqual(stored)
    rmSync(dir, { recursive: true })
    expect(await cache.acquireLease(KEY, 30_000)).toBeDefined()
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(cache.warnings).toEqual([])
  })

  it('refuses an empty directory option', () => {
    expect(() => fileCache({ dir: ' ' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }))
  })
})

describe('fileCache lease', () => {
  it('goes to one holder per identity until released', async () => {
    const a = store()
    const b = store()
    const lease = await a.acquireLease(KEY, 30_000)
    expect(lease).toBeDefined()
    expect(statSync(lockFile()).mode & 0o777).toBe(0o600)
    expect(await b.acquireLease(KEY, 30_000)).toBeUndefined()
    expect(await b.acquireLease(OTHER_KEY, 30_000)).toBeDefined()
    await lease!.release()
    expect(await b.acquireLease(KEY, 30_000)).toBeDefined()
  })

  it('has exactly one winner among many concurrent acquirers', async () => {
    const contenders = Array.from({ length: 40 }, () => store())
    const leases = await Promise.all(contenders.map((cache) => cache.acquireLease(KEY, 30_000)))
    expect(leases.filter((lease) => lease !== undefined)).toHaveLength(1)
  })

  it('takes over an expired lock, and the late release of the old holder leaves the new lock alone', async () => {
    let now = Date.now()
    const clock: Clock = { now: () => now, setTimer: () => ({ cancel() {} }) }
    const first = await store({ clock }).acquireLease(KEY, 1_000)
    expect(await store({ clock }).acquireLease(KEY, 30_000)).toBeUndefined()
    now += 1_000
    const second = await store({ clock }).acquireLease(KEY, 30_000)
    expect(second).toBeDefined()
    await first!.release()
    expect(await store({ clock }).acquireLease(KEY, 30_000)).toBeUndefined()
    await second!.release()
    expect(await store({ clock }).acquireLease(KEY, 30_000)).toBeDefined()
  })

  it('takes over a lock whose holder process no longer exists', async () => {
    mkdirSync(dir, { mode: 0o700 })
    const { hostname } = await import('node:os')
    const deadPid = 2 ** 22 + 12_345 // above Linux's pid_max ceiling: no such process
    const lock = { pid: deadPid, host: hostname(), nonce: 'n', expiresAt: Date.now() + HOUR }
    writeFileSync(lockFile(), JSON.stringify(lock), { mode: 0o600 })
    expect(await store().acquireLease(KEY, 30_000)).toBeDefined()

    // the same lock from a live process (this one) on this host holds
    rmSync(lockFile())
    writeFileSync(lockFile(), JSON.stringify({ ...lock, pid: process.pid }), { mode: 0o600 })
    expect(await store().acquireLease(KEY, 30_000)).toBeUndefined()
    // and one from another host is trusted until it expires
    writeFileSync(lockFile(), JSON.stringify({ ...lock, host: 'another-host' }), { mode: 0o600 })
    expect(await store().acquireLease(KEY, 30_000)).toBeUndefined()
  })

  it('takes over a junk lock file', async () => {
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(lockFile(), 'garbage', { mode: 0o600 })
    expect(await store().acquireLease(KEY, 30_000)).toBeDefined()
  })

  it('releases the leases it holds on close', async () => {
    const cache = store()
    expect(await cache.acquireLease(KEY, 30_000)).toBeDefined()
    await cache.close()
    expect(await store().acquireLease(KEY, 30_000)).toBeDefined()
  })
})
