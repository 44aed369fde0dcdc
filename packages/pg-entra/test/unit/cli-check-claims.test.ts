// The claims step of `pg-entra check`: a user name against the identity in the token. The integration tests cover
// service principals and managed identities end to end; a user's token cannot be had from the emulator through a
// credential the CLI builds, so the user cases are here, on identities read from real claim sets.
import { describe, expect, it } from 'vitest'
import { compareUser, StepFailure } from '../../src/cli/commands/check.js'
import { identityFromClaims } from '../../src/identity/claims.js'

const user = identityFromClaims({ idtyp: 'user', upn: 'Alice@Contoso.com', oid: 'a1', tid: 't1' })
const mi = identityFromClaims({
  idtyp: 'app',
  appid: 'c1',
  oid: 'm1',
  xms_mirid: '/subscriptions/s/resourcegroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-mi',
})
const sp = identityFromClaims({ idtyp: 'app', appid: 'c2', oid: 's1' })

describe('check: claims against the user name', () => {
  it('a user connects as their UPN, compared case-insensitively', () => {
    expect(compareUser(user, 'alice@contoso.com', 'user')).toBe('user; connects as "alice@contoso.com"')
  })

  it('a user name that is not the UPN fails with USER_MISMATCH and names the UPN to use', () => {
    let thrown: unknown
    try {
      compareUser(user, 'bob@contoso.com', 'user')
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(StepFailure)
    expect(thrown).toMatchObject({
      code: 'USER_MISMATCH',
      message: 'user: the user "bob@contoso.com" is not the token\'s Alice@Contoso.com',
    })
    expect((thrown as StepFailure).hint).toContain('use user=Alice@Contoso.com')
  })

  it('a managed identity under another name warns, with the statement that would bind that name to its oid', () => {
    const outcome = compareUser(mi, 'orders_api', 'mi')
    expect(outcome).toEqual({
      warn: 'mi: the user "orders_api" is not the managed identity\'s name "orders-mi"',
      hint: expect.stringContaining(
        "pgaadauth_create_principal_with_oid('orders_api', 'm1', 'service', false, false);",
      ),
    })
    expect(compareUser(mi, 'orders-mi', 'mi')).toBe('mi; connects as "orders-mi"')
  })

  it('a service principal may use any role name: the server matches its oid', () => {
    expect(compareUser(sp, 'orders_api', 'sp')).toBe(
      'sp; connects as "orders_api", which the server must map to this oid',
    )
  })

  it("a group member may connect as a group's role: a warning naming the token's groups, not USER_MISMATCH", () => {
    const member = identityFromClaims({ idtyp: 'user', upn: 'alice@contoso.com', oid: 'a1', groups: ['g1', 'g2'] })
    expect(member.groups).toEqual(['g1', 'g2'])
    expect(compareUser(member, 'analysts', 'user')).toEqual({
      warn: 'user: the user "analysts" is not the token\'s alice@contoso.com; it works if "analysts" is the role of one of the token\'s 2 group(s), as Azure\'s group login allows',
      hint: expect.stringContaining("pgaadauth_create_principal('<group name>', false, false)"),
    })
    const spMember = identityFromClaims({ idtyp: 'app', appid: 'c3', oid: 's3', groups: ['g1'] })
    expect(compareUser(spMember, 'analysts', 'sp')).toBe(
      'sp; connects as "analysts", which the server must map to this oid, or to one of its 1 group(s)',
    )
  })
})
