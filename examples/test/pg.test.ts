import { describe, expect, it } from 'vitest'
import { runExampleThroughRollovers } from '../_shared/run-example.js'

describe('examples/pg (node-postgres, pg-entra/pg)', () => {
  it('keeps querying through token rollovers: no failed query, every new connection carries the current token', async () => {
    const run = await runExampleThroughRollovers('pg')

    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.summary).toMatchObject({ example: 'pg', failures: 0, errors: [], user: run.role })
    expect(run.summary!.queries).toBeGreaterThan(20)
    expect(run.summary!.connectionsOpened).toBeGreaterThanOrEqual(4)
    expect(run.verdict).toMatchObject({ rejected: 0, staleConnections: 0, foreignTokens: 0 })
    // 10 s tokens over ~27 s: at least three tokens, and each one issued while the pool kept opening connections
    // was carried by one (the last may arrive as the run ends).
    expect(run.verdict.tokensUsed).toBeGreaterThanOrEqual(3)
    expect(run.verdict.tokensUsed).toBeGreaterThanOrEqual(run.verdict.tokensIssued - 1)
    expect(run.verdict.connections).toBeGreaterThanOrEqual(run.summary!.connectionsOpened)
    expect(run.summary!.connectionsCreated).toBe(run.verdict.connections)
  })
})
