// Under root PostgreSQL runs as the postgres system user, who cannot reach binaries inside a private checkout
// (a 0700 mktemp directory, /root): they are then copied once to a shared directory it can reach.
import { spawnSync } from 'node:child_process'
import { chmod, cp, lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { arch, platform, tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { postgresBinaries, postgresUser } from '../src/upstream/postgres-binaries.js'

describe('PostgreSQL binaries', () => {
  const cleanup: string[] = []
  afterAll(async () => {
    for (const dir of cleanup) await rm(dir, { recursive: true, force: true })
  })

  it('are used where they are when the server’s user can run them', async () => {
    const runAs = await postgresUser()
    const found = await postgresBinaries(runAs)
    expect(spawnSync(found.postgres, ['--version'], { ...runAs, encoding: 'utf8' }).stdout).toMatch(/PostgreSQL/)
    const openDir = await mkdtemp(join(tmpdir(), 'open-checkout-'))
    cleanup.push(openDir)
    await chmod(openDir, 0o755)
    const native = join(openDir, 'native')
    await cp(dirname(dirname(found.postgres)), native, { recursive: true, verbatimSymlinks: true })
    const binaries = await postgresBinaries(runAs, { dir: native, version: `open-${process.pid}` })
    expect(binaries.postgres).toBe(join(native, 'bin', 'postgres'))
  })

  it('are copied to a shared directory when they sit in a directory the server’s user cannot enter', async () => {
    expect(userInfo().uid, 'this case needs root, as CI and the project machines run').toBe(0)
    const runAs = await postgresUser()
    const own = await postgresBinaries(runAs)
    const privateDir = await mkdtemp(join(tmpdir(), 'private-checkout-')) // 0700, owned by root
    cleanup.push(privateDir)
    const native = join(privateDir, 'native')
    await cp(dirname(dirname(own.postgres)), native, { recursive: true, verbatimSymlinks: true })
    const version = `test-${process.pid}`
    const blocked = spawnSync(join(native, 'bin', 'postgres'), ['--version'], { ...runAs })
    expect((blocked.error as NodeJS.ErrnoException | undefined)?.code).toBe('EACCES')

    const binaries = await postgresBinaries(runAs, { dir: native, version })
    cleanup.push(dirname(dirname(binaries.postgres)))
    expect(binaries.postgres.startsWith(join(tmpdir(), 'pg-entra-emulator', `postgresql-${version}-`))).toBe(true)
    expect(spawnSync(binaries.postgres, ['--version'], { ...runAs, encoding: 'utf8' }).stdout).toMatch(/PostgreSQL/)
    // A second start finds the copy made by the first.
    expect(await postgresBinaries(runAs, { dir: native, version })).toEqual(binaries)
  })

  it('hydrates the library links an install without scripts left out, then runs', async () => {
    const runAs = await postgresUser()
    const own = await postgresBinaries(runAs)
    const openDir = await mkdtemp(join(tmpdir(), 'no-scripts-'))
    cleanup.push(openDir)
    await chmod(openDir, 0o755)
    const native = join(openDir, 'native')
    await cp(dirname(dirname(own.postgres)), native, { recursive: true, verbatimSymlinks: true })
    const links = JSON.parse(await readFile(join(native, 'pg-symlinks.json'), 'utf8')) as { target: string }[]
    expect(links.length).toBeGreaterThan(0)
    for (const { target } of links) await rm(join(openDir, target))
    const before = spawnSync(join(native, 'bin', 'postgres'), ['--version'], { ...runAs, encoding: 'utf8' })
    expect(before.status, 'without its links PostgreSQL cannot load its libraries').not.toBe(0)

    const binaries = await postgresBinaries(runAs, { dir: native, version: `links-${process.pid}` })
    expect(binaries.postgres).toBe(join(native, 'bin', 'postgres'))
    for (const { target } of links) expect((await lstat(join(openDir, target))).isSymbolicLink()).toBe(true)
    expect(spawnSync(binaries.postgres, ['--version'], { ...runAs, encoding: 'utf8' }).stdout).toMatch(/PostgreSQL/)
  })

  it('never reuses a shared copy marked complete that does not run: it is replaced', async () => {
    expect(userInfo().uid, 'this case needs root, as CI and the project machines run').toBe(0)
    const runAs = await postgresUser()
    const own = await postgresBinaries(runAs)
    const privateDir = await mkdtemp(join(tmpdir(), 'private-checkout-'))
    cleanup.push(privateDir)
    const native = join(privateDir, 'native')
    await cp(dirname(dirname(own.postgres)), native, { recursive: true, verbatimSymlinks: true })
    const version = `broken-${process.pid}`
    const shared = join(tmpdir(), 'pg-entra-emulator', `postgresql-${version}-${platform()}-${arch()}`)
    cleanup.push(shared)
    await mkdir(join(shared, 'bin'), { recursive: true })
    await writeFile(join(shared, 'bin', 'postgres'), '', { mode: 0o755 }) // what an interrupted copy leaves
    await writeFile(join(shared, '.complete'), version)

    const binaries = await postgresBinaries(runAs, { dir: native, version })
    expect(binaries.postgres).toBe(join(shared, 'bin', 'postgres'))
    expect(spawnSync(binaries.postgres, ['--version'], { ...runAs, encoding: 'utf8' }).stdout).toMatch(/PostgreSQL/)
  })
})
