// Attacks on the file cache, on a real file system as root (the suite runs as root; these tests need it to make
// directories owned by another user): a cache directory reached through a symbolic link, owned or writable by another
// user, or under a parent others can write to; a FIFO in place of an entry or a lock; and a swapped entry (another
// principal's genuine token under this application's key). The store refuses, warns, never throws, and the
// application (against the real emulator and pg) gets its own token and connects as itself.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { decodeStoredToken, encodeStoredToken } from '../../src/cache/_stored-token.js'
import { type FileTokenStore, fileCache } from '../../src/cache/file-cache.js'
import type { PgEntraError } from '../../src/errors/pg-entra-error.js'
import { KEY, storedToken } from '../helpers/stored-token.js'
import { type Emu, frontOf, type Principal, seenBy, spOptions } from '../reliability/_reliability.js'

/** These tests make directories owned by another user: they need root, and fail (never skip) without it. */
function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'test/attack/cache-file.test.ts needs root (it chowns directories to nobody); run the suite as root',
    )
  }
}
const nobody = (): number => Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim())
const hash = (key: string) => createHash('sha256').update(key).digest('hex')

function watched(dir: string): FileTokenStore & { warnings: PgEntraError[] } {
  const warnings: PgEntraError[] = []
  return Object.assign(fileCache({ dir, onWarning: (error) => warnings.push(error) }), { warnings })
}

/** Every store call answers (a miss, nothing stored, a lease local to this process) and says why, never throws. */
async function expectRefusedDir(cache: FileTokenStore & { warnings: PgEntraError[] }, why: RegExp): Promise<void> {
  await cache.set(storedToken())
  expect(await cache.get(KEY)).toBeUndefined()
  const lease = await cache.acquireLease(KEY, 10_000)
  expect(lease).toBeDefined()
  await lease!.release()
  expect(cache.warnings.length).toBeGreaterThan(0)
  expect(cache.warnings.every((error) => error.code === 'CACHE_ERROR')).toBe(true)
  expect(cache.warnings[0]!.message).toMatch(why)
}

let emu: Emu
const scratch: string[] = []
beforeAll(async () => {
  emu = await useEmulator()
})
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pg-entra-attack-'))
  scratch.push(dir)
  return dir
}

function recorded(auth: EntraAuth): PgEntraError[] {
  const warnings: PgEntraError[] = []
  auth.on((event) => {
    if (event.type === 'warning') warnings.push(event.error)
  })
  return warnings
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('a swapped file entry', () => {
  let a: Principal
  let b: Principal
  beforeAll(async () => {
    a = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('swap-a') })
    b = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('swap-b') })
  })

  it("holding another principal's genuine token is refused, and the app connects as itself", async () => {
    const root = scratchDir()
    const dir = join(root, 'cache')
    const entries = () => readdirSync(dir).filter((name) => name.endsWith('.json'))
    const first = entraAuth({ ...spOptions(emu, a), cache: fileCache({ dir }) })
    await first.token()
    await until(() => entries().length === 1, 'the entry')
    await first.close()

    const path = join(dir, entries()[0]!)
    const entry = decodeStoredToken(readFileSync(path, 'utf8'))!
    const planted = await emu.token(b.name)
    const expiresOnTimestamp = Date.now() + 3_600_000
    writeFileSync(path, encodeStoredToken({ ...entry, token: planted, expiresOnTimestamp, fetchedAt: Date.now() }), {
      mode: 0o600,
    })

    const auth = entraAuth({ ...spOptions(emu, a), cache: fileCache({ dir }) })
    const warnings = recorded(auth)
    try {
      expect((await auth.token()).token).not.toBe(planted)
      expect((await auth.identity()).objectId).toBe(a.objectId)
      const before = await seenBy(emu, a)
      const client = new pg.Client({ ...frontOf(emu), user: a.roleName, password: auth.password })
      await client.connect()
      try {
        expect((await client.query<{ u: string }>('select current_user as u')).rows[0]!.u).toBe(a.roleName)
      } finally {
        await client.end()
      }
      const after = await seenBy(emu, a)
      expect(after.rejected - before.rejected).toBe(0)
      const refusals = warnings.filter((error) => error.details.action === 'check')
      expect(refusals).toHaveLength(1)
      expect(refusals[0]!.message).toContain(`client (appid ${b.appId}) is not ${a.appId}`)
      expect(inspect(refusals[0], { depth: 10 })).not.toContain(planted.split('.')[2])
      // The planted entry, though it outlived ours, was removed and ours took its place.
      const own = (await auth.token()).token
      const holds = () => {
        try {
          return decodeStoredToken(readFileSync(path, 'utf8'))?.token === own
        } catch {
          return false // between the removal and our write
        }
      }
      await until(holds, 'our own entry')
    } finally {
      await auth.close()
    }
  })
})

describe('a cache directory another user could control is refused', () => {
  beforeAll(requireRoot)

  it('reached through a symbolic link placed in a directory another user controls: nothing written or chmod-ed at the target', async () => {
    const root = scratchDir()
    const target = join(root, 'root-owned')
    mkdirSync(target, { mode: 0o755 })
    chmodSync(target, 0o755)
    const shared = join(root, 'shared')
    mkdirSync(shared)
    chmodSync(shared, 0o777)
    chownSync(shared, nobody(), nobody())
    symlinkSync(target, join(shared, 'cache'))
    const cache = watched(join(shared, 'cache'))
    await expectRefusedDir(cache, /writable by other users without the sticky bit|belongs to uid/)
    expect(readdirSync(target)).toEqual([])
    expect(statSync(target).mode & 0o7777).toBe(0o755)
  })

  it('that is itself a symbolic link, even in a directory of its own user', async () => {
    const root = scratchDir()
    const target = join(root, 'real')
    mkdirSync(target, { mode: 0o700 })
    symlinkSync(target, join(root, 'link'))
    await expectRefusedDir(watched(join(root, 'link')), /is a symbolic link/)
    expect(readdirSync(target)).toEqual([])
  })

  it('reached through a parent that is a symbolic link owned by another user', async () => {
    const root = scratchDir()
    const target = join(root, 'elsewhere')
    mkdirSync(target, { mode: 0o700 })
    const link = join(root, 'link')
    symlinkSync(target, link)
    execFileSync('chown', ['-h', String(nobody()), link])
    await expectRefusedDir(watched(join(link, 'cache')), /symbolic link owned by uid/)
    expect(readdirSync(target)).toEqual([])
  })

  it('follows a parent link that root or this user owns (as /var/run -> /run)', async () => {
    const root = scratchDir()
    const target = join(root, 'run')
    mkdirSync(target, { mode: 0o755 })
    symlinkSync(target, join(root, 'var-run'))
    const cache = watched(join(root, 'var-run', 'app'))
    const stored = storedToken()
    await cache.set(stored)
    expect(await cache.get(KEY)).toEqual(stored)
    expect(cache.warnings).toEqual([])
    expect(statSync(join(target, 'app')).mode & 0o777).toBe(0o700)
  })

  it('owned by another user (nobody)', async () => {
    const dir = join(scratchDir(), 'cache')
    mkdirSync(dir, { mode: 0o700 })
    chownSync(dir, nobody(), nobody())
    await expectRefusedDir(watched(dir), /belongs to uid/)
    expect(readdirSync(dir)).toEqual([])
    expect(statSync(dir).mode & 0o777).toBe(0o700)
  })

  it.each([0o777, 0o770, 0o702])('with mode 0%s (writable by others), left as it is', async (mode) => {
    const dir = join(scratchDir(), 'cache')
    mkdirSync(dir)
    chmodSync(dir, mode)
    await expectRefusedDir(watched(dir), /writable by other users/)
    expect(readdirSync(dir)).toEqual([])
    expect(statSync(dir).mode & 0o777).toBe(mode)
  })

  it('under a parent writable by others without the sticky bit; with the sticky bit (like /tmp) it is fine', async () => {
    const root = scratchDir()
    const open = join(root, 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)
    await expectRefusedDir(watched(join(open, 'cache')), /without the sticky bit/)
    expect(existsSync(join(open, 'cache'))).toBe(false)

    const sticky = join(root, 'sticky')
    mkdirSync(sticky)
    chmodSync(sticky, 0o1777)
    const cache = watched(join(sticky, 'cache'))
    await cache.set(storedToken())
    expect(await cache.get(KEY)).toBeDefined()
    expect(cache.warnings).toEqual([])
  })

  it('entraAuth carries on with its own token and says why', async () => {
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('refused-dir') })
    const dir = join(scratchDir(), 'cache')
    mkdirSync(dir)
    chmodSync(dir, 0o777)
    const auth = entraAuth({ ...spOptions(emu, sp), cache: fileCache({ dir }) })
    const warnings = recorded(auth)
    try {
      expect((await auth.identity()).objectId).toBe(sp.objectId)
      expect(
        warnings.some((error) => error.code === 'CACHE_ERROR' && /writable by other users/.test(error.message)),
      ).toBe(true)
      expect(readdirSync(dir)).toEqual([])
    } finally {
      await auth.close()
    }
  })
})

describe('a FIFO in place of an entry or a lock', () => {
  beforeAll(requireRoot)

  it('is ignored at once: 10 concurrent reads complete, and the thread pool still serves other file I/O', async () => {
    const dir = join(scratchDir(), 'cache')
    mkdirSync(dir, { mode: 0o700 })
    const entry = join(dir, `${hash(KEY)}.json`)
    execFileSync('mkfifo', ['-m', '600', entry])
    const cache = watched(dir)
    // libuv has 4 threads: a blocking open of a FIFO with no writer would hold one each, and these 10 would hang.
    expect(await Promise.all(Array.from({ length: 10 }, () => cache.get(KEY)))).toEqual(Array(10).fill(undefined))
    expect(cache.warnings[0]!.message).toContain('not a regular file')
    expect(await readFile(join(import.meta.dirname, 'cache-file.test.ts'), 'utf8')).toContain('FIFO')

    const lock = join(dir, `${hash(KEY)}.lock`)
    execFileSync('mkfifo', ['-m', '600', lock])
    const leases = await Promise.all(Array.from({ length: 10 }, () => cache.acquireLease(KEY, 10_000)))
    expect(leases.filter(Boolean).length).toBeLessThanOrEqual(1)
    expect(lstatSync(entry).isFIFO()).toBe(true) // never written through
  })

  it('does not hold up entraAuth: the token call completes, and so does the next one', async () => {
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('fifo') })
    const dir = join(scratchDir(), 'cache')
    const entries = () => readdirSync(dir).filter((name) => name.endsWith('.json'))
    const first = entraAuth({ ...spOptions(emu, sp), cache: fileCache({ dir }) })
    await first.token()
    await until(() => entries().length === 1, 'the entry')
    await first.close()
    const entry = join(dir, entries()[0]!)
    rmSync(entry)
    execFileSync('mkfifo', ['-m', '600', entry])

    const auth = entraAuth({ ...spOptions(emu, sp), cache: fileCache({ dir }) })
    const warnings = recorded(auth)
    try {
      const token = await auth.token()
      expect((await auth.identity()).objectId).toBe(sp.objectId)
      auth.invalidate(token.token)
      expect((await auth.token()).token).not.toBe(token.token)
      expect(warnings.some((error) => error.message.includes('not a regular file'))).toBe(true)
      expect(await readFile(join(import.meta.dirname, 'cache-file.test.ts'), 'utf8')).toContain('FIFO')
    } finally {
      await auth.close()
    }
  })
})
