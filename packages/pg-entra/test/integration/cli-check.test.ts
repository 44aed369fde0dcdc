import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { type AddressInfo, connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { WireClient } from '../../../emulator/test/wire-client.js'
import { runCli, servicePrincipalFlags, stepLine } from './_cli.js'

type Emulator = Awaited<ReturnType<typeof useEmulator>>
type Principal = Awaited<ReturnType<Emulator['addPrincipal']>>

const steps = [
  'options',
  'credential',
  'token',
  'claims',
  'dns',
  'tcp',
  'tls',
  'authentication',
  'query',
  'server version',
]

let emulator: Emulator
let sp: Principal
let otherSp: Principal
let mi: Principal
let noTlsServer: Server
let noTlsPort: number
let forwarder: Server
let forwarderPort: number
let closedPort: number

beforeAll(async () => {
  emulator = await useEmulator()
  sp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('cli-check-sp') })
  otherSp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('cli-check-other') })
  mi = await emulator.addPrincipal({ kind: 'managedIdentity', name: uniqueName('cli-check-mi'), assignment: 'user' })
  // A server that answers PostgreSQL's SSLRequest with "N": no TLS here.
  noTlsServer = createServer((socket) => socket.once('data', () => socket.end('N')))
  noTlsPort = await listen(noTlsServer)
  // The front's certificate names 127.0.0.1, localhost and ::1; reached as 127.0.0.2 through this relay, it names
  // the wrong host.
  forwarder = createServer((socket) => {
    const upstream = connect(emulator.pg.port, '127.0.0.1')
    socket.pipe(upstream).pipe(socket)
    socket.on('error', () => upstream.destroy())
    upstream.on('error', () => socket.destroy())
  })
  forwarderPort = await listen(forwarder, '127.0.0.2')
  const probe = createServer()
  closedPort = await listen(probe)
  await new Promise((resolve) => probe.close(resolve))
})

afterAll(async () => {
  await new Promise((resolve) => noTlsServer?.close(resolve))
  await new Promise((resolve) => forwarder?.close(resolve))
})

function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as { port: number }).port)))
}

const spFlags = () => servicePrincipalFlags(emulator, sp)

/** A libpq key=value connection string to the emulator's front. */
function conninfo(fields: Record<string, string | number> = {}): string {
  const all = {
    host: 'localhost',
    port: emulator.pg.port,
    dbname: emulator.pg.database,
    sslrootcert: emulator.caPath,
    ...fields,
  }
  return Object.entries(all)
    .filter(([, value]) => value !== '')
    .map(([key, value]) => `${key}=${value}`)
    .join(' ')
}

/** Asserts that `failed` is the one failing step, with a hint, and that every step after it was skipped. */
function expectFailure(stdout: string, failed: string, code: string | RegExp, hint: RegExp) {
  const at = steps.indexOf(failed)
  for (const step of steps.slice(0, at))
    expect(['PASS', 'WARN'], `${step}\n${stdout}`).toContain(stepLine(stdout, step).status)
  const line = stepLine(stdout, failed)
  expect(line.status, stdout).toBe('FAIL')
  expect(line.detail).toMatch(typeof code === 'string' ? new RegExp(`^${code}: `) : code)
  expect(line.hint, stdout).toMatch(hint)
  for (const step of steps.slice(at + 1)) expect(stepLine(stdout, step).status).toBe('SKIP')
  expect(stdout.trimEnd().endsWith('FAILED')).toBe(true)
}

describe('pg-entra check', () => {
  it('passes every step for a service principal and its role, exit 0', async () => {
    const { code, stdout, stderr } = await runCli(['check', ...spFlags(), conninfo({ user: sp.roleName! })], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expect(stderr).toBe('')
    for (const step of steps) expect(stepLine(stdout, step).status, stdout).toBe('PASS')
    expect(stepLine(stdout, 'query').detail).toBe(`current_user = ${sp.roleName}`)
    expect(stepLine(stdout, 'server version').detail).toMatch(/^PostgreSQL \d+/)
    expect(stepLine(stdout, 'tls').detail).toMatch(/chain trusted, host name localhost matches/)
    expect(stdout).toContain('all checks passed')
    expect(code).toBe(0)
  })

  it('derives the user of a managed identity from the token, everything else from the environment', async () => {
    const env = emulator.env({ profile: 'managed-identity', principal: mi.name })
    const { code, stdout } = await runCli(['check'], { ...env, PGUSER: undefined })
    expect(stepLine(stdout, 'options').detail).toContain('user from the token')
    expect(stepLine(stdout, 'claims').detail).toContain(`connects as "${mi.name}" (derived from the token)`)
    expect(stepLine(stdout, 'query').detail).toBe(`current_user = ${mi.name}`)
    expect(code, stdout).toBe(0)
  })

  it('--json reports every step for scripts', async () => {
    const env = emulator.env({ profile: 'managed-identity', principal: mi.name })
    const { code, stdout } = await runCli(['check', '--json'], env)
    const report = JSON.parse(stdout) as { ok: boolean; steps: { step: string; status: string }[] }
    expect(report.ok).toBe(true)
    expect(report.steps.map((s) => s.step)).toEqual(steps)
    expect(report.steps.every((s) => s.status === 'pass')).toBe(true)
    expect(code).toBe(0)
  })

  it('a wrong secret fails the token step with the AADSTS code and a hint, exit 1', async () => {
    const secret = 'wrong-secret-0b7e'
    const { code, stdout, stderr } = await runCli(['check', ...spFlags(), conninfo({ user: sp.roleName! })], {
      AZURE_CLIENT_SECRET: secret,
    })
    expectFailure(stdout, 'token', /^CREDENTIAL_REJECTED: .*AADSTS7000215/, /secret/)
    expect(stdout + stderr).not.toContain(secret)
    expect(code).toBe(1)
  })

  it('an unknown role fails authentication with the statement that creates it', async () => {
    const role = uniqueName('cli-no-such-role')
    const { code, stdout } = await runCli(['check', ...spFlags(), conninfo({ user: role })], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expectFailure(
      stdout,
      'authentication',
      'TOKEN_REFUSED',
      new RegExp(`pgaadauth_create_principal_with_oid\\('${role}', '${sp.objectId}', 'service', false, false\\)`),
    )
    expect(code).toBe(1)
  })

  it("a service principal using another principal's role fails authentication", async () => {
    const { code, stdout } = await runCli(['check', ...spFlags(), conninfo({ user: otherSp.roleName! })], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expect(stepLine(stdout, 'claims').detail).toContain(
      `oid ${sp.objectId}; connects as "${otherSp.roleName}", which the server must map to this oid`,
    )
    expectFailure(stdout, 'authentication', 'TOKEN_REFUSED', /is mapped to this principal/)
    expect(code).toBe(1)
  })

  it("a user name that is not the managed identity's warns at claims, then fails authentication", async () => {
    const env = emulator.env({ profile: 'managed-identity', principal: mi.name })
    const { code, stdout } = await runCli(['check'], { ...env, PGUSER: otherSp.roleName })
    const claims = stepLine(stdout, 'claims')
    expect(claims.status).toBe('WARN')
    expect(claims.detail).toContain(`the user "${otherSp.roleName}" is not the managed identity's name "${mi.name}"`)
    expect(claims.hint).toContain(`use user=${mi.name}`)
    expectFailure(stdout, 'authentication', 'TOKEN_REFUSED', /pgaadauth_create_principal_with_oid/)
    expect(code).toBe(1)
  })

  it('sslmode=disable fails the options step: the token never travels without TLS', async () => {
    const { code, stdout } = await runCli(
      ['check', ...spFlags(), conninfo({ user: sp.roleName!, sslmode: 'disable', sslrootcert: '' })],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    expectFailure(stdout, 'options', 'TLS_REQUIRED', /allowUnverifiedTls/)
    expect(code).toBe(1)
  })

  it('a server certificate from an untrusted CA fails the tls step and names sslrootcert', async () => {
    const { code, stdout } = await runCli(['check', ...spFlags(), conninfo({ user: sp.roleName!, sslrootcert: '' })], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expectFailure(stdout, 'tls', /^TLS_CHAIN: .*chain not trusted/, /sslrootcert/)
    expect(code).toBe(1)
  })

  it('an issuing CA given as sslrootcert instead of the root fails the tls step and says to trust the root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-entra-check-'))
    try {
      const issuingCa = join(dir, 'issuing-ca.pem')
      const wire = await WireClient.openTls(emulator.pg.port, emulator.ca)
      writeFileSync(issuingCa, new X509Certificate(wire.peerChain.issuerCertificate.raw).toString()) // sent by the server
      wire.close()
      const { code, stdout } = await runCli(
        ['check', ...spFlags(), conninfo({ user: sp.roleName!, sslrootcert: issuingCa })],
        { AZURE_CLIENT_SECRET: sp.secret, NODE_EXTRA_CA_CERTS: '' },
      )
      expectFailure(stdout, 'tls', /^TLS_CHAIN: .*\(UNABLE_TO_GET_ISSUER_CERT\)/, /is an issuing CA, not a root/)
      expect(code).toBe(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a certificate for another host name fails the tls step, the chain being trusted', async () => {
    const { code, stdout } = await runCli(
      ['check', ...spFlags(), conninfo({ host: '127.0.0.2', port: forwarderPort, user: sp.roleName! })],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    expectFailure(stdout, 'tls', /^TLS_HOSTNAME: .*127\.0\.0\.2/, /host name the certificate names/)
    expect(code).toBe(1)
  })

  it('a server that refuses TLS fails the tls step', async () => {
    const { code, stdout } = await runCli(
      ['check', ...spFlags(), conninfo({ host: '127.0.0.1', port: noTlsPort, user: sp.roleName! })],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    expectFailure(stdout, 'tls', /^TLS_REFUSED: .*answered the SSLRequest with N/, /Azure always offers TLS/)
    expect(code).toBe(1)
  })

  it('an unreachable host fails the tcp step', async () => {
    const { code, stdout } = await runCli(
      ['check', ...spFlags(), conninfo({ host: '127.0.0.1', port: closedPort, user: sp.roleName! })],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    expectFailure(stdout, 'tcp', /^ECONNREFUSED: /, /nothing listens there/)
    expect(code).toBe(1)
  })

  it('a port that accepts TCP and never answers the SSLRequest fails the tls step with a coded hint', async () => {
    const silent = createServer((socket) => socket.on('error', () => {}))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as AddressInfo).port
    try {
      const { code, stdout } = await runCli(
        ['check', ...spFlags(), '--timeout', '1', conninfo({ host: '127.0.0.1', port, user: sp.roleName! })],
        { AZURE_CLIENT_SECRET: sp.secret },
      )
      expectFailure(
        stdout,
        'tls',
        /^NO_SSL_ANSWER: no answer to SSLRequest/,
        /does not speak PostgreSQL: check the port/,
      )
      expect(code).toBe(1)
    } finally {
      silent.close()
    }
  })

  it('--timeout takes seconds above 0: anything else is an argument error (exit 2)', async () => {
    for (const value of ['abc', '0', '-1', '']) {
      const { code, stderr } = await runCli(['check', ...spFlags(), `--timeout=${value}`])
      expect(stderr, value).toBe(
        'INVALID_OPTION: --timeout must be a number of seconds above 0\nhint: e.g. --timeout 10\n',
      )
      expect(code).toBe(2)
    }
  })

  it('a malformed connection string fails the options step', async () => {
    const { code, stdout } = await runCli(['check', ...spFlags(), 'postgres://host:notaport/db'], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expectFailure(stdout, 'options', 'INVALID_OPTION', /.+/)
    expect(code).toBe(1)
  })
})
