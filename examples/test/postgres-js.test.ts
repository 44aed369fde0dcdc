import { describe, expect, it } from 'vitest'
import { runExampleThroughRollovers } from '../_shared/run-example.js'

describe('examples/postgres-js (postgres.js)', () => {
  it('keeps querying through token rollovers: no failed query, every new connection carries the current token', async () => {
    const run = await runExampleThroughRollovers('postgres-js')

    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.summary).toMatchObject({ example: 'postgres-js', failures: 0, errors: [] })
    expect(run.summary!.queries).toBeGreaterThan(20)
    expect(run.summary!.connectionsOpened).toBeGreaterThanOrEqual(4)
    expect(run.verdict).toMatchObject({ rejected: 0, staleConnections: 0, foreignTokens: 0 })
    expect(run.verdict.tokensUsed).toBeGreaterThanOrEqual(3)
    expect(run.verdict.connections).toBeGreaterThanOrEqual(run.summary!.connectionsOpened)
  })
})
