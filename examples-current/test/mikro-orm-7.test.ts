import { describe, expect, it } from 'vitest'
import { runExampleThroughRollovers } from '../../examples/_shared/run-example.js'

describe('examples-current/mikro-orm-7', () => {
  it('keeps querying through token rollovers: no failed query, every new connection carries the current token', async () => {
    const run = await runExampleThroughRollovers('../examples-current/mikro-orm-7/main.ts')

    expect(run.exitCode, run.stderr + run.stdout).toBe(0)
    expect(run.summary).toMatchObject({ failures: 0, errors: [] })
    expect(run.summary!.queries).toBeGreaterThan(20)
    expect(run.summary!.connectionsOpened).toBeGreaterThanOrEqual(4)
    expect(run.verdict).toMatchObject({ rejected: 0, staleConnections: 0, foreignTokens: 0 })
    expect(run.verdict.tokensUsed).toBeGreaterThanOrEqual(3)
    expect(run.verdict.connections).toBeGreaterThanOrEqual(run.summary!.connectionsOpened)
  })
})
