// Under root PostgreSQL runs as the postgres system user, who cannot reach binaries inside a private checkout
// (a 0700 mktemp directory, /root): they are then copied once to a shared directory it can reach.
import { spawnSync } from 'node:child_process'
import { chmod, cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
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
})
