import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runExampleThroughRollovers } from '../../examples/_shared/run-example.js'

const here = dirname(fileURLToPath(import.meta.url))
const workspace = join(here, '..')
const preferPackage = join(here, '..', '..', 'tools', 'test', 'prefer-package.mjs')
const installed = createRequire(join(workspace, 'package.json'))('@azure/identity/package.json') as { version: string }

describe('examples-current/azure-identity (@azure/identity 4.14)', () => {
  it('pg-entra builds its credential with the current @azure/identity and keeps querying through rollovers', async () => {
    expect(installed.version).toMatch(/^4\.(1[4-9]|[2-9]\d)\./)
    const dir = mkdtempSync(join(tmpdir(), 'prefer-package-'))
    const log = join(dir, 'resolved.log')
    try {
      const run = await runExampleThroughRollovers('../examples-current/azure-identity/main.ts', {
        env: {
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(preferPackage).href}`,
          PREFER_PACKAGE: '@azure/identity',
          PREFER_PACKAGE_FROM: workspace,
          PREFER_PACKAGE_LOG: log,
        },
      })

      expect(run.exitCode, run.stderr + run.stdout).toBe(0)
      // pg-entra's lazy import('@azure/identity') resolved to this workspace's copy, not the root's 4.13.1.
      const resolved = readFileSync(log, 'utf8').trim().split('\n')
      expect(resolved.length).toBeGreaterThan(0)
      for (const line of resolved) expect(line).toContain('/examples-current/node_modules/@azure/identity/')
      expect(run.summary).toMatchObject({ failures: 0, errors: [] })
      expect(run.summary!.queries).toBeGreaterThan(20)
      expect(run.verdict).toMatchObject({ rejected: 0, staleConnections: 0, foreignTokens: 0 })
      expect(run.verdict.tokensUsed).toBeGreaterThanOrEqual(3)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
