import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, open, readdir, rename, stat, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { isPgEntraError, PgEntraError } from '../errors/pg-entra-error.js'
import { type Clock, systemClock } from '../shared/clock.js'
import { preparePrivateDir } from './_private-dir.js'
import { decodeStoredToken, encodeStoredToken, identityHash } from './_stored-token.js'
import { createWarnings, type WarningListener } from './_warnings.js'
import type { Lease, StoredToken, TokenStore } from './token-store.js'

export interface FileCacheOptions {
  /**
   * Directory shared by the processes of this host (e.g. `/var/run/myapp/pg-entra`). Created 0700 when missing;
   * it must belong to the user the processes run as. Each identity gets one 0600 file in it.
   */
  dir: string
  /** Store failures, each followed by a miss; entraAuth also reports them as `warning` events. */
  onWarning?: WarningListener
  /** @internal Tests inject time. Lock expiry is compared across processes, so keep the system clock there. */
  clock?: Clock
}

export interface FileTokenStore extends TokenStore {
  readonly kind: 'file'
  readonly dir: string
  discard(key: string, token: string): Promise<void>
  acquireLease(key: string, ttlMs: number): Promise<Lease | undefined>
  onWarning(listener: WarningListener): () => void
  /** Releases the leases this store holds; the files stay for the other processes. */
  close(): Promise<void>
}

interface LockHolder {
  pid: number
  host: string
  nonce: string
  expiresAt: number
}

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0
/** A FIFO or a device in place of an entry must not block a libuv thread: opened non-blocking, then refused by fstat. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0
const MAX_ENTRY_BYTES = 64 * 1024
const MAX_LOCK_BYTES = 4 * 1024
/** A `.break` file older than this was left by a process that died while breaking a stale lock. */
const STALE_BREAK_MS = 10_000
const STALE_TEMP_MS = 60_000
const checksOwnership = process.platform !== 'win32' && typeof process.getuid === 'function'

/** Shares tokens between the processes of one host: one file per identity, written atomically, readable by its owner. */
export function fileCache(options: FileCacheOptions): FileTokenStore {
  if (typeof options?.dir !== 'string' || options.dir.trim() === '') {
    throw new PgEntraError('INVALID_OPTION', 'fileCache needs a directory', {
      hint: "fileCache({ dir: '/var/run/myapp/pg-entra' }): a directory only this user can read",
    })
  }
  const dir = resolve(options.dir)
  const clock = options.clock ?? systemClock
  const warnings = createWarnings('file', () => clock.now(), options.onWarning)
  const uid = checksOwnership ? process.getuid!() : undefined
  const host = hostname()
  const held = new Set<Lease>()
  let prepared: Promise<void> | undefined

  const entryPath = (key: string) => join(dir, `${identityHash(key)}.json`)
  const lockPath = (key: string) => join(dir, `${identityHash(key)}.lock`)

  function prepareDir(): Promise<void> {
    prepared ??= preparePrivateDir(dir, { uid })
      .then(async ({ readableByOthers }) => {
        if (readableByOthers) {
          warnings.warn(`file cache directory ${dir} can be listed by other users; it is used as it is`, {
            hint: `entries are 0600 and unreadable to others, but their names show; chmod 700 ${dir} to hide them`,
            details: { dir },
          })
        }
        await removeStaleTemporaries(dir)
      })
      .catch((error: unknown) => {
        prepared = undefined // try again on the next call: the directory may be fixed meanwhile
        throw error
      })
    return prepared
  }

  /** Runs `io` in the prepared directory; if the directory vanished meanwhile (a temp cleaner), makes it again once. */
  async function inDir<T>(io: () => Promise<T>): Promise<T> {
    await prepareDir()
    try {
      return await io()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      prepared = undefined
      await prepareDir()
      return io()
    }
  }

  function warnIo(action: string, error: unknown): void {
    if (isPgEntraError(error)) {
      warnings.warn(error.message, { hint: error.hint ?? '', details: { dir } })
      return
    }
    warnings.warn(`file cache could not ${action}; using this process's memory`, {
      hint: `check that ${dir} is a writable directory owned by the user this process runs as`,
      reason: error,
      details: { dir },
    })
  }

  async function read(key: string): Promise<StoredToken | undefined> {
    const path = entryPath(key)
    const ignore = (why: string) => {
      warnings.warn(`file cache entry ignored: ${why}; it will be replaced`, {
        hint: `nothing to do unless this repeats; the directory ${dir} should be used by one user only`,
        details: { file: path },
      })
      return undefined
    }
    let entry: SafeRead
    try {
      entry = await readOwnFile(path, MAX_ENTRY_BYTES, uid)
    } catch (error) {
      warnIo('read its entry', error)
      return undefined
    }
    if (entry.kind === 'missing') return undefined
    if (entry.kind === 'refused') return ignore(entry.why)
    const token = decodeStoredToken(entry.text)
    if (!token) return ignore('corrupted')
    if (token.key !== key) return ignore('it holds a token for another identity')
    return token.expiresOnTimestamp > clock.now() ? token : undefined
  }

  async function write(token: StoredToken): Promise<void> {
    await prepareDir()
    const current = await read(token.key)
    // Another process may have stored a fresher token meanwhile: keep the one that lives longer.
    if (current && current.expiresOnTimestamp >= token.expiresOnTimestamp) return
    // Readers see the old file or the new one, never half of one: write aside, then rename over. No fsync: a
    // crash that loses the file costs one token request, not correctness.
    await inDir(() => writeFileAtomically(entryPath(token.key), encodeStoredToken(token)))
  }

  async function acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const path = lockPath(key)
    for (let attempt = 0; attempt < 2; attempt++) {
      const mine = JSON.stringify({
        pid: process.pid,
        host,
        nonce: randomBytes(12).toString('hex'),
        expiresAt: clock.now() + ttlMs,
      } satisfies LockHolder)
      if (await inDir(() => createExclusively(path, mine))) return holdLease(path, mine)
      const holder = await readLock(path, uid)
      if (holder === undefined) continue // released between our attempt and our look: try once more
      if (!isStale(holder.parsed)) return undefined
      await breakStaleLock(path, holder.raw)
    }
    return undefined
  }

  function holdLease(path: string, mine: string): Lease {
    const lease: Lease = {
      async release() {
        if (!held.delete(lease)) return
        // Remove the lock only while it is still ours: after our expiry another process may hold it.
        const current = await readOwnFile(path, MAX_LOCK_BYTES, uid).catch(() => undefined)
        if (current?.kind === 'read' && current.text === mine) await unlink(path).catch(() => {})
      },
    }
    held.add(lease)
    return lease
  }

  function isStale(holder: LockHolder | undefined): boolean {
    if (holder === undefined) return true // junk: no process of ours writes a partial lock (they are linked whole)
    if (holder.expiresAt <= clock.now()) return true
    return holder.host === host && !isProcessAlive(holder.pid)
  }

  async function breakStaleLock(path: string, observed: string): Promise<void> {
    // Two processes may find the same stale lock; one `.break` file makes sure only one removes it, and only
    // while it is still that stale lock, never the fresh lock a third process just took.
    const breakPath = `${path}.break`
    if (!(await createExclusively(breakPath, JSON.stringify({ pid: process.pid, host })))) {
      const info = await stat(breakPath).catch(() => undefined)
      if (info && Date.now() - info.mtimeMs > STALE_BREAK_MS) await unlink(breakPath).catch(() => {})
      return
    }
    try {
      const current = await readLock(path, uid).catch(() => undefined)
      if (current?.raw === observed) await unlink(path).catch(() => {})
    } finally {
      await unlink(breakPath).catch(() => {})
    }
  }

  return {
    kind: 'file',
    dir,
    async get(key) {
      try {
        await prepareDir()
        return await read(key)
      } catch (error) {
        warnIo('open its directory', error)
        return undefined
      }
    },
    async set(token) {
      try {
        await write(token)
      } catch (error) {
        warnIo('store a token', error)
      }
    },
    async discard(key, token) {
      try {
        await prepareDir()
        const path = entryPath(key)
        const entry = await readOwnFile(path, MAX_ENTRY_BYTES, uid)
        if (entry.kind === 'read' && decodeStoredToken(entry.text)?.token === token) await unlink(path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') warnIo('remove a refused token', error)
      }
    },
    async acquireLease(key, ttlMs) {
      try {
        return await acquire(key, ttlMs)
      } catch (error) {
        warnIo('take the refresh lock', error)
        return { release: async () => {} } // cannot coordinate: let this process fetch on its own
      }
    },
    onWarning: (listener) => warnings.listen(listener),
    async close() {
      await Promise.all([...held].map((lease) => lease.release()))
    },
  }
}

async function removeStaleTemporaries(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[])
  for (const name of names) {
    if (!name.startsWith('.') || !name.endsWith('.tmp')) continue
    const path = join(dir, name)
    const info = await stat(path).catch(() => undefined)
    if (info && Date.now() - info.mtimeMs > STALE_TEMP_MS) await unlink(path).catch(() => {})
  }
}

async function writeTemporary(target: string, text: string): Promise<string> {
  const path = join(dirname(target), `.${randomBytes(8).toString('hex')}.${process.pid}.tmp`)
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600)
  try {
    await handle.chmod(0o600) // the umask may have taken more than group and other bits
    await handle.writeFile(text, 'utf8')
  } catch (error) {
    await handle.close().catch(() => {})
    await unlink(path).catch(() => {})
    throw error
  }
  await handle.close()
  return path
}

async function writeFileAtomically(path: string, text: string): Promise<void> {
  const temporary = await writeTemporary(path, text)
  try {
    await rename(temporary, path)
  } catch (error) {
    await unlink(temporary).catch(() => {})
    throw error
  }
}

/** Creates `path` holding `text` only if it does not exist; the content appears whole (written aside, then linked). */
async function createExclusively(path: string, text: string): Promise<boolean> {
  const temporary = await writeTemporary(path, text)
  try {
    await link(temporary, path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  } finally {
    await unlink(temporary).catch(() => {})
  }
}

/** A lock file's text; a lock that is not a regular file of ours is junk (taken over like a stale one). */
async function readLock(
  path: string,
  uid: number | undefined,
): Promise<{ raw: string; parsed: LockHolder | undefined } | undefined> {
  const lock = await readOwnFile(path, MAX_LOCK_BYTES, uid)
  if (lock.kind === 'missing') return undefined
  if (lock.kind === 'refused') return { raw: '', parsed: undefined }
  return { raw: lock.text, parsed: parseLock(lock.text) }
}

type SafeRead = { kind: 'missing' } | { kind: 'refused'; why: string } | { kind: 'read'; text: string }

/**
 * Reads a file of this store without following a link, without blocking on a FIFO or a device (opened
 * non-blocking, then refused by fstat before any read), and at most `maxBytes` of it. Refused: anything but a regular
 * file owned by this user and closed to others.
 */
async function readOwnFile(path: string, maxBytes: number, uid: number | undefined): Promise<SafeRead> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return { kind: 'missing' }
    if (code === 'ELOOP' || code === 'EMLINK') return { kind: 'refused', why: 'a symbolic link' }
    if (code === 'ENXIO') return { kind: 'refused', why: 'not a regular file' } // a socket, or a FIFO opened for writing
    throw error
  }
  try {
    const info = await handle.stat()
    if (!info.isFile()) return { kind: 'refused', why: 'not a regular file' }
    if (uid !== undefined && info.uid !== uid) return { kind: 'refused', why: `owned by uid ${info.uid}, not ${uid}` }
    if (checksOwnership && (info.mode & 0o077) !== 0)
      return { kind: 'refused', why: 'readable or writable by other users' }
    if (info.size > maxBytes) return { kind: 'refused', why: 'too large to be a token entry' }
    const buffer = Buffer.alloc(maxBytes + 1)
    let length = 0
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length > maxBytes) return { kind: 'refused', why: 'too large to be a token entry' }
    return { kind: 'read', text: buffer.subarray(0, length).toString('utf8') }
  } finally {
    await handle.close().catch(() => {})
  }
}

function parseLock(raw: string): LockHolder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockHolder>
    if (
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.nonce === 'string' &&
      typeof value.expiresAt === 'number'
    ) {
      return value as LockHolder
    }
  } catch {}
  return undefined
}

function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' // alive, owned by someone else
  }
}
