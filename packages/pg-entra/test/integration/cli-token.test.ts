import { beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { startEmulator } from '../../../emulator/src/index.js'
import { jwtPayload, runCli } from './_cli.js'

type Emulator = Awaited<ReturnType<typeof useEmulator>>
type Principal = Awaited<ReturnType<Emulator['addPrincipal']>>

let emulator: Emulator
let sp: Principal
let spFlags: string[]

beforeAll(async () => {
  emulator = await useEmulator()
  sp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('cli-token-sp') })
  spFlags = [
    '--tenant-id',
    emulator.tenantId,
    '--client-id',
    sp.appId!,
    '--authority-host',
    emulator.authorityHost,
    '--authority-ca',
    emulator.caPath,
  ]
})

describe('pg-entra token', () => {
  it('prints only the token of the principal the options name', async () => {
    const { code, stdout, stderr } = await runCli(['token', ...spFlags], { AZURE_CLIENT_SECRET: sp.secret })
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout.endsWith('\n')).toBe(true)
    const lines = stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    const claims = jwtPayload(lines[0]!)
    expect(claims.oid).toBe(sp.objectId)
    expect(claims.tid).toBe(emulator.tenantId)
    expect(claims.aud).toBe(emulator.resource)
  })

  it('takes everything from the environment the emulator prints for an application', async () => {
    const env = emulator.env({ profile: 'service-principal', principal: sp.name })
    const { code, stdout, stderr } = await runCli(['token'], env)
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(jwtPayload(stdout.trim()).oid).toBe(sp.objectId)
  })

  it('--json adds the expiry, the scope and the principal', async () => {
    const { code, stdout } = await runCli(['token', '--json', ...spFlags], { AZURE_CLIENT_SECRET: sp.secret })
    expect(code).toBe(0)
    const result = JSON.parse(stdout) as {
      token: string
      expiresOn: string
      scope: string
      principal: { kind: string; objectId: string; appId: string; tenantId: string; databaseUser: string | null }
    }
    expect(jwtPayload(result.token).oid).toBe(sp.objectId)
    expect(Date.parse(result.expiresOn)).toBeGreaterThan(Date.now())
    expect(result.scope).toBe(emulator.scope)
    expect(result.principal).toMatchObject({
      kind: 'servicePrincipal',
      objectId: sp.objectId,
      appId: sp.appId,
      tenantId: emulator.tenantId,
      databaseUser: null,
    })
  })

  it('a wrong secret prints code, message and hint on stderr, exit 2, no stack and no secret', async () => {
    const secret = 'wrong-secret-4f1c9a'
    const { code, stdout, stderr } = await runCli(['token', ...spFlags, '--client-secret', secret])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(/^CREDENTIAL_REJECTED: .*AADSTS7000215/)
    expect(stderr).toMatch(/\nhint: .+/)
    expect(stderr).not.toMatch(/\n\s+at /)
    expect(stderr).not.toContain(secret)
  })

  it("an emulator's exports after it stopped: the hint says it may have stopped", async () => {
    const gone = await startEmulator({ principals: [{ kind: 'servicePrincipal', name: uniqueName('cli-gone') }] })
    const env = gone.env({ profile: 'service-principal' })
    await gone.stop()
    const { code, stderr: printed } = await runCli(['token'], env)
    // Node's own, at start-up: NODE_EXTRA_CA_CERTS names the CA file the emulator removed when it stopped
    const stderr = printed.replace(/^Warning: Ignoring extra certs from .*\n/gm, '')
    expect(stderr).toMatch(
      /^ENTRA_UNREACHABLE: could not read the authority's OpenID metadata from https:\/\/127\.0\.0\.1:/,
    )
    expect(stderr).toMatch(/\nhint: the authority is on this machine: if it is pg-entra-emulator, it may have stopped/)
    expect(code).toBe(2)
  })

  it("a user-assigned managed identity that is not assigned here: what to check, not MSAL's raw text", async () => {
    const mi = await emulator.addPrincipal({ kind: 'managedIdentity', name: uniqueName('cli-mi'), assignment: 'user' })
    const env = emulator.env({ profile: 'managed-identity', principal: mi.name })
    const unknown = '0f0e0d0c-0b0a-4908-8706-050403020100'
    const { code, stderr } = await runCli(['token', '--managed-identity', '--client-id', unknown], {
      IDENTITY_ENDPOINT: env.IDENTITY_ENDPOINT,
      IDENTITY_HEADER: env.IDENTITY_HEADER,
    })
    expect(stderr).toMatch(
      new RegExp(
        `^CREDENTIAL_UNAVAILABLE: the managed identity asked for \\(client id ${unknown}\\) is not assigned here: No managed identity found for the request\\n`,
      ),
    )
    expect(stderr).not.toMatch(/Not Available - Timestamp|Correlation ID/)
    expect(stderr).toMatch(/\nhint: check the id against the identities assigned to this App Service, VM or pod/)
    expect(code).toBe(2)
  })

  it('an unknown option is INVALID_OPTION pointing at --help', async () => {
    const { code, stderr } = await runCli(['token', '--tenant', 'x'])
    expect(code).toBe(2)
    expect(stderr).toMatch(/^INVALID_OPTION: .*--tenant/)
    expect(stderr).toContain('hint: see: pg-entra token --help')
  })

  it('--help shows the options and examples, exit 0', async () => {
    const { code, stdout } = await runCli(['token', '--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('Usage: pg-entra token')
    expect(stdout).toContain('--client-secret')
    expect(stdout).toContain('Examples:')
  })
})

describe('pg-entra', () => {
  it('without a command prints the commands and exits 2; an unknown command exits 2', async () => {
    const bare = await runCli([])
    expect(bare.code).toBe(2)
    expect(bare.stdout).toMatch(/token .*\n.*whoami .*\n.*check .*\n.*psql /)
    const unknown = await runCli(['tokens'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toBe(
      'INVALID_OPTION: unknown command "tokens"\n' +
        'hint: did you mean "token"? the commands are token, whoami, check, psql, exec, proxy; see pg-entra --help\n',
    )
    expect((await runCli(['nonsense'])).stderr).toMatch(
      /^INVALID_OPTION: unknown command "nonsense"\nhint: the commands/,
    )
  })

  it('argument mistakes: one line with a hint, and never a piece of a secret echoed', async () => {
    const split = await runCli(['token', '--client-secret', 'WRONGsecret', 'ZZZ123456789'])
    expect(split.stderr).toBe(
      'INVALID_OPTION: an unexpected argument after --client-secret (not shown: it may be part of the secret)\n' +
        'hint: quote a secret with spaces in it, or better, give it in the environment (AZURE_CLIENT_SECRET)\n',
    )
    expect((await runCli(['token', '--client-secret=WRONG', 'ZZZ98765'])).stderr).not.toContain('ZZZ98765')
    const exec = await runCli(['exec', 'psql', '-c', 'select 1'])
    expect(exec.stderr).toMatch(
      /^INVALID_OPTION: pg-entra exec takes the command after --: unexpected argument 'psql'\n/,
    )
    const negative = await runCli(['proxy', '--max-connections', '-1', 'myserver'])
    expect(negative.stderr).toBe(
      'INVALID_OPTION: --max-connections needs a value, and got an option instead\n' +
        'hint: give the value after --max-connections; one that starts with "-" goes as --max-connections=-...\n',
    )
    for (const result of [split, exec, negative]) expect(result.code).toBe(2)
  })

  it('colours only when asked or on a terminal', async () => {
    const args = ['token', '--tenant-id', 'x']
    const piped = await runCli(args)
    expect(piped.code).toBe(2)
    expect(piped.stderr).not.toContain('\u001b[')
    const forced = await runCli(args, { FORCE_COLOR: '1' })
    expect(forced.stderr).toContain('\u001b[31mINVALID_OPTION:\u001b[39m')
    const refused = await runCli(args, { FORCE_COLOR: '1', NO_COLOR: '1' })
    expect(refused.stderr).not.toContain('\u001b[')
  })
})
