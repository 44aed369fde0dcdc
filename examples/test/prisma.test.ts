import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../tools/test/emulator.js'
import { examplesDir, runExample, runExampleThroughRollovers } from '../_shared/run-example.js'

const run = promisify(execFile)
const prismaDir = join(examplesDir, 'prisma')

/** A service principal of this test's own, and the environment `pg-entra-emulator start` prints for it. */
async function principalEnv(prefix: string) {
  const emulator = await useEmulator()
  const name = uniqueName(prefix)
  const principal = await emulator.addPrincipal({ kind: 'servicePrincipal', name })
  return {
    emulator,
    name,
    role: principal.roleName ?? name,
    env: emulator.env({ profile: 'service-principal', principal: name }),
  }
}

describe('examples/prisma (Prisma 7 with @prisma/adapter-pg)', () => {
  beforeAll(async () => {
    // the generated client is git-ignored: generate it offline, as docs/integrations/prisma.md says
    await run(process.execPath, [join(prismaDir, 'generate.mjs')])
  })

  it('keeps querying through token rollovers: no failed query, every new connection carries the current token', async () => {
    const result = await runExampleThroughRollovers('prisma')

    expect(result.exitCode, result.stderr + result.stdout).toBe(0)
    expect(result.summary).toMatchObject({ example: 'prisma', failures: 0, errors: [] })
    expect(result.summary!.queries).toBeGreaterThan(20)
    expect(result.summary!.connectionsOpened).toBeGreaterThanOrEqual(4)
    expect(result.verdict).toMatchObject({ rejected: 0, staleConnections: 0, foreignTokens: 0 })
    expect(result.verdict.tokensUsed).toBeGreaterThanOrEqual(3)
    expect(result.verdict.connections).toBeGreaterThanOrEqual(result.summary!.connectionsOpened)
  })

  it('prisma.config.ts gives the CLI a URL with a fresh token that connects over verified TLS', async () => {
    const { emulator, name, role, env } = await principalEnv('ex-prisma-cli')

    const result = await runExample('prisma/check-cli-url.ts', env)

    expect(result.exitCode, result.stderr + result.stdout).toBe(0)
    expect(result.summary).toEqual({
      user: role,
      certificateVerified: true,
      sslmode: 'require',
      sslaccept: null,
      sslcert: emulator.caPath,
    })
    expect(result.stderr).not.toContain('Warning')
    const counters = await emulator.counters()
    const issued = counters.tokenRequests.byPrincipal[name]?.issued.map((token) => token.tokenId) ?? []
    expect(issued).toHaveLength(1)
    expect(counters.pg.byRole[role]?.tokenIds).toEqual(issued)
    expect(result.stdout + result.stderr).not.toContain(env.AZURE_CLIENT_SECRET)
  })

  it('`prisma generate` loads prisma.config.ts without fetching a token', async () => {
    const { emulator, name, env } = await principalEnv('ex-prisma-gen')
    const prismaCli = join(examplesDir, '..', 'node_modules', 'prisma', 'build', 'index.js')

    const { stdout, stderr } = await run(process.execPath, [prismaCli, 'generate'], {
      cwd: prismaDir,
      env: {
        ...process.env,
        ...env,
        PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
        PRISMA_ENGINES_MIRROR: 'http://127.0.0.1:9',
        CHECKPOINT_DISABLE: '1',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
      },
    })

    expect(stdout + stderr).toContain('Loaded Prisma config from prisma.config.ts')
    expect(stdout + stderr).toContain('Generated Prisma Client')
    expect((await emulator.counters()).tokenRequests.byPrincipal[name]?.requests ?? 0).toBe(0)
  })
})
