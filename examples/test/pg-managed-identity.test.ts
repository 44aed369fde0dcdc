import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../tools/test/emulator.js'
import { createOwnSchema, judgeRollover, runExample } from '../_shared/run-example.js'

describe('examples/pg (node-postgres) as a user-assigned managed identity', () => {
  it('takes the identity and the user (from xms_mirid) from the environment and keeps querying through a rollover', async () => {
    const emulator = await useEmulator()
    const name = uniqueName('ex-pg-mi')
    const identity = await emulator.addPrincipal({ kind: 'managedIdentity', name, assignment: 'user' })
    await emulator.knobs.set({ principals: { [name]: { tokenLifetimeSeconds: 10 } } })
    const role = identity.roleName ?? name
    await createOwnSchema(emulator, role)

    // What `pg-entra-emulator start` (the managed-identity profile) prints, as App Service sets it: IDENTITY_ENDPOINT,
    // IDENTITY_HEADER and AZURE_CLIENT_ID for a user-assigned identity. No PGUSER: the user comes from the token.
    const env = emulator.env({ profile: 'managed-identity', principal: name })
    expect(env).toMatchObject({
      IDENTITY_ENDPOINT: emulator.managedIdentity.endpoint,
      AZURE_CLIENT_ID: identity.clientId,
    })
    expect(env.AZURE_CLIENT_SECRET).toBeUndefined()
    const run = await runExample('pg', {
      ...env,
      PGUSER: '',
      EXAMPLE_DURATION_SECONDS: '14',
      EXAMPLE_CONNECTION_LIFETIME_SECONDS: '2',
    })

    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.summary).toMatchObject({ example: 'pg', failures: 0, errors: [], user: role })
    expect(identity.resourceId).toMatch(new RegExp(`/userAssignedIdentities/${role}$`))
    expect(run.summary!.connectionsOpened).toBeGreaterThanOrEqual(3)

    const counters = await emulator.counters()
    const issued = counters.tokenRequests.byPrincipal[name]?.issued ?? []
    expect(issued.length).toBeGreaterThanOrEqual(2)
    expect(issued.every((token) => token.via === 'managed-identity')).toBe(true)
    const requests = (await emulator.requestLog()).filter((entry) => entry.principal === name)
    expect(requests.length).toBeGreaterThanOrEqual(issued.length)
    expect(
      requests.every((entry) => entry.server === 'managed-identity' && entry.params.client_id === identity.clientId),
    ).toBe(true)
    const byRole = counters.pg.byRole[role]
    const verdict = judgeRollover(issued, byRole?.tokenIds ?? [], byRole?.rejected ?? 0)
    expect(verdict).toMatchObject({ rejected: 0, staleConnections: 0, foreignTokens: 0 })
    expect(verdict.tokensUsed).toBeGreaterThanOrEqual(2)
    expect(verdict.connections).toBe(run.summary!.connectionsCreated)
  })
})
