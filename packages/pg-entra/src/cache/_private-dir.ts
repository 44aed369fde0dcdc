import type { Stats } from 'node:fs'
import { chmod, lstat, mkdir, realpath } from 'node:fs/promises'
import { dirname, join, parse, sep } from 'node:path'
import { PgEntraError } from '../errors/pg-entra-error.js'

const STICKY = 0o1000
const WRITABLE_BY_OTHERS = 0o022
const MAX_LINKS = 16

const HINT_OWN_DIR =
  'give fileCache({ dir }) a directory only this user can write to, on a path no other user can change ' +
  '(each parent owned by root or this user, not writable by others unless sticky like /tmp)'

/** Who may be trusted with a path: this user and root. undefined where the platform has no uids (Windows). */
export interface Owner {
  uid: number | undefined
}

export interface PreparedDir {
  /** The directory existed and others may read it (e.g. 0755): entries are 0600, but their names can be listed. */
  readableByOthers: boolean
}

/**
 * Makes sure `dir` is a directory only this user controls, reached through no path another user could change:
 * - `dir` itself is not a symbolic link, is a directory owned by this user, and is not writable by group or others
 *   (an existing one is never chmod'ed: a directory pg-entra did not create is not pg-entra's to change);
 * - each parent, from the root down, is owned by root or this user and writable by no one else unless sticky (/tmp);
 *   a parent that is a symbolic link is followed only when root or this user owns the link, and its target is held
 *   to the same rules;
 * - missing components are created one at a time, 0700, and checked again after creation.
 * Throws CACHE_ERROR naming the path and the reason otherwise.
 */
export async function preparePrivateDir(dir: string, owner: Owner): Promise<PreparedDir> {
  await checkParents(dirname(dir), owner, 0)
  let info = await lstatOrUndefined(dir)
  let created = false
  if (!info) {
    await createMissing(dir, owner)
    info = await lstat(dir)
    created = true
  }
  if (info.isSymbolicLink()) {
    throw refused(dir, 'is a symbolic link', 'give the real path of the directory, not a link to it')
  }
  if (!info.isDirectory()) throw refused(dir, 'is not a directory', 'give fileCache({ dir }) a directory path')
  if (owner.uid !== undefined && info.uid !== owner.uid) {
    throw refused(
      dir,
      `belongs to uid ${info.uid}, not ${owner.uid}`,
      'give each user its own directory; tokens are never shared through a directory another user controls',
    )
  }
  if (created) {
    if (owner.uid !== undefined && (info.mode & 0o777) !== 0o700) await chmod(dir, 0o700) // the umask's doing
    return { readableByOthers: false }
  }
  if (owner.uid !== undefined && (info.mode & WRITABLE_BY_OTHERS) !== 0) {
    throw refused(
      dir,
      `is writable by other users (mode ${mode(info)})`,
      `chmod 700 ${dir}, or give a directory only this user can write to`,
    )
  }
  return { readableByOthers: owner.uid !== undefined && (info.mode & 0o077) !== 0 }
}

/** Checks every existing component of `path` from the root down; missing components are left to createMissing. */
async function checkParents(path: string, owner: Owner, links: number): Promise<void> {
  if (links > MAX_LINKS) throw refused(path, 'is reached through too many symbolic links', HINT_OWN_DIR)
  const { root } = parse(path)
  const parts = path.slice(root.length).split(sep).filter(Boolean)
  for (let index = 0; index <= parts.length; index++) {
    const current = join(root, ...parts.slice(0, index))
    const info = await lstatOrUndefined(current)
    if (!info) return // the rest is missing: it will be created, 0700, by this user
    if (info.isSymbolicLink()) {
      if (!trusted(info, owner)) {
        throw refused(current, `is a symbolic link owned by uid ${info.uid}`, HINT_OWN_DIR)
      }
      const target = await realpath(current)
      await checkParents(target, owner, links + 1)
      continue
    }
    if (!info.isDirectory()) throw refused(current, 'is not a directory', HINT_OWN_DIR)
    if (!trusted(info, owner)) throw refused(current, `belongs to uid ${info.uid}`, HINT_OWN_DIR)
    if (owner.uid !== undefined && (info.mode & WRITABLE_BY_OTHERS) !== 0 && (info.mode & STICKY) === 0) {
      throw refused(current, `is writable by other users without the sticky bit (mode ${mode(info)})`, HINT_OWN_DIR)
    }
  }
}

/** Creates the missing components of `dir` one at a time, each 0700; a component that appeared meanwhile is checked. */
async function createMissing(dir: string, owner: Owner): Promise<void> {
  const missing: string[] = []
  for (let path = dir; !(await lstatOrUndefined(path)); path = dirname(path)) {
    missing.unshift(path)
    if (dirname(path) === path) break
  }
  for (const path of missing) {
    try {
      await mkdir(path, { mode: 0o700 })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    if (path === dir) return
    const info = await lstat(path)
    if (info.isSymbolicLink() || !info.isDirectory() || !trusted(info, owner)) {
      throw refused(path, 'was replaced while it was being created', HINT_OWN_DIR)
    }
  }
}

function trusted(info: Stats, owner: Owner): boolean {
  return owner.uid === undefined || info.uid === owner.uid || info.uid === 0
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function mode(info: Stats): string {
  return `0${(info.mode & 0o7777).toString(8)}`
}

function refused(path: string, why: string, hint: string): PgEntraError {
  return new PgEntraError('CACHE_ERROR', `file cache directory refused: ${path} ${why}`, {
    hint,
    details: { path },
  })
}
