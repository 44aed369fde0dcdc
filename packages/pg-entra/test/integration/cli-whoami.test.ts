import { beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { runCli, servicePrincipalFlags } from './_cli.js'

type Emulator = Awaited<ReturnType<typeof useEmulator>>
type Principal = Awaited<ReturnType<Emulator['addPrincipal']>>

let emulator: Emulator
let sp: Principal
let mi: Principal

beforeAll(async () => {
  emulator = await useEmulator()
  sp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('cli-whoami-sp') })
  mi = await emulator.addPrincipal({ kind: 'managedIdentity', name: uniqueName('cli-whoami-mi'), assignment: 'user' })
})

const spFlags = () => servicePrincipalFlags(emulator, sp)

describe('pg-entra whoami', () => {
  it('a service principal: its ids, and the role bound to its object id for the name given', async () => {
    const { code, stdout, stderr } = await runCli(['whoami', ...spFlags(), '--user', 'orders-api'], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).toMatch(/^kind +service principal$/m)
    expect(stdout).toMatch(new RegExp(`^object id +${sp.objectId}$`, 'm'))
    expect(stdout).toMatch(new RegExp(`^app id +${sp.appId}$`, 'm'))
    expect(stdout).toMatch(new RegExp(`^tenant +${emulator.tenantId}$`, 'm'))
    expect(stdout).toMatch(/^database role +orders-api$/m)
    expect(stdout).toContain(
      `select * from pgaadauth_create_principal_with_oid('orders-api', '${sp.objectId}', 'service', false, false);`,
    )
  })

  it('a service principal without --user: says the token carries no name', async () => {
    const { code, stdout } = await runCli(['whoami', ...spFlags()], { AZURE_CLIENT_SECRET: sp.secret })
    expect(code).toBe(0)
    expect(stdout).toMatch(/^database role +\(not in the token: .*--user/m)
  })

  it('a service principal with PGUSER: the role is PGUSER, as with --user, and --user wins over it', async () => {
    const fromEnv = await runCli(['whoami', ...spFlags()], { AZURE_CLIENT_SECRET: sp.secret, PGUSER: 'billing-api' })
    expect(fromEnv.stderr).toBe('')
    expect(fromEnv.code).toBe(0)
    expect(fromEnv.stdout).toMatch(/^database role +billing-api$/m)
    expect(fromEnv.stdout).toContain(
      `select * from pgaadauth_create_principal_with_oid('billing-api', '${sp.objectId}', 'service', false, false);`,
    )
    const both = await runCli(['whoami', ...spFlags(), '--user', 'orders-api', '--json'], {
      AZURE_CLIENT_SECRET: sp.secret,
      PGUSER: 'billing-api',
    })
    expect(JSON.parse(both.stdout)).toMatchObject({ role: 'orders-api' })
  })

  it('a managed identity: the role is its name, from the token', async () => {
    const env = emulator.env({ profile: 'managed-identity', principal: mi.name })
    const { code, stdout, stderr } = await runCli(['whoami'], env)
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).toMatch(/^kind +managed identity$/m)
    expect(stdout).toMatch(new RegExp(`^name +${mi.name}$`, 'm'))
    expect(stdout).toMatch(new RegExp(`^database role +${mi.name}$`, 'm'))
    expect(stdout).toContain(
      `pgaadauth_create_principal_with_oid('${mi.name}', '${mi.objectId}', 'service', false, false);`,
    )
  })

  it('--json carries the same facts', async () => {
    const env = emulator.env({ profile: 'managed-identity', principal: mi.name })
    const { code, stdout } = await runCli(['whoami', '--json'], env)
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({
      kind: 'managedIdentity',
      databaseUser: mi.name,
      role: mi.name,
      objectId: mi.objectId,
      tenantId: emulator.tenantId,
      managedIdentityResourceId: mi.resourceId,
      scope: emulator.scope,
    })
  })

  it("a group member: the token's groups, and that it may connect as a group's role", async () => {
    const group = await emulator.addPrincipal({ kind: 'group', name: uniqueName('cli-whoami-group') })
    const member = await emulator.addPrincipal({
      kind: 'servicePrincipal',
      name: uniqueName('cli-whoami-member'),
      groups: [group.name],
    })
    const flags = servicePrincipalFlags(emulator, member)
    const { code, stdout } = await runCli(['whoami', ...flags, '--user', group.name], {
      AZURE_CLIENT_SECRET: member.secret,
    })
    expect(code).toBe(0)
    expect(stdout).toMatch(new RegExp(`^groups +1 \\(${group.objectId}\\)$`, 'm'))
    expect(stdout).toContain("may also connect as that group's role with this token")
    const json = await runCli(['whoami', ...flags, '--json'], { AZURE_CLIENT_SECRET: member.secret })
    expect(JSON.parse(json.stdout)).toMatchObject({ groups: [group.objectId] })
  })

  it('a wrong secret: code and hint, exit 2', async () => {
    const { code, stdout, stderr } = await runCli(['whoami', ...spFlags()], { AZURE_CLIENT_SECRET: 'not-the-secret' })
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(/^CREDENTIAL_REJECTED: /)
    expect(stderr).toMatch(/\nhint: /)
  })
})
