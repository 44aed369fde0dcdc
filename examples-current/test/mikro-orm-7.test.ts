import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runExampleThroughRollovers } from '../../examples/_shared/run-example.js'

// In an app one copy of MikroORM is installed and pg-entra resolves it; in this repository the root has MikroORM 6 for
// Node 20, so pg-entra's lookup is pointed at this workspace's MikroORM 7, as examples-current/test/azure-identity does.
const here = dirname(fileURLToPath(import.meta.url))
const preferPackage = join(here, '..', '..', 'tools', 'test', 'prefer-package.mjs')
const env = {
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preferPackage}`,
  PREFER_PACKAGE: '@mikro-orm/core',
  PREFER_PACKAGE_FROM: join(here, '..'),
}

describe('examples-current/mikro-orm-7', () => {
  it('keeps querying through token rollovers: no failed query, every new connection carries the current token', async () => {
    const run = await runExampleThroughRollovers('../examples-current/mikro-orm-7/main.ts', { env })

    expect(run.exitCode, run.stderr + run.stdout).toBe(0)
    expect(run.summary).toMatchObject({ failures: 0, errors: [] })
    expect(run.summary!.queries).toBeGreaterThan(20)
    expect(run.summary!.connectionsOpened).toBeGreaterThanOrEqual(4)
    expect(run.verdict).toMatchObject({ rejected: 0, staleConnections: 0, foreignTokens: 0 })
    expect(run.verdict.tokensUsed).toBeGreaterThanOrEqual(3)
    expect(run.verdict.connections).toBeGreaterThanOrEqual(run.summary!.connectionsOpened)
  })
})
