// Azure's group login through pg-entra/pg: a member (here a service principal in group G) connects as G's role with
// its own token, and the session's current_user is the group role.
import { expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { emulatorAuthority, emulatorPg } from './_pg-helpers.js'

it("a group member connects as the group's role with its own token", async () => {
  const emu = await useEmulator()
  const group = await emu.addPrincipal({ kind: 'group', name: uniqueName('pg-group') })
  const member = await emu.addPrincipal({
    kind: 'servicePrincipal',
    name: uniqueName('pg-member'),
    groups: [group.name],
  })
  const auth = entraAuth({
    tenantId: member.tenantId,
    clientId: member.appId,
    clientSecret: member.secret,
    ...emulatorAuthority(emu),
  })
  const pool = createPool({ ...emulatorPg(emu), user: group.roleName!, entra: auth })
  try {
    const { rows } = await pool.query<{ current_user: string }>('select current_user')
    expect(rows[0]!.current_user).toBe(group.roleName)
    const counters = await emu.counters()
    expect(counters.pg.byRole[group.roleName!]).toMatchObject({ accepted: 1, rejected: 0 })
  } finally {
    await pool.end()
    await auth.close()
  }
})
