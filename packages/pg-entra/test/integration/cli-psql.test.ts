import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createCertificateAuthority } from '../../../emulator/src/pki/index.js'
import { type Impostor, startImpostor } from '../helpers/impostor.js'
import { runCli, servicePrincipalFlags } from './_cli.js'

type Emulator = Awaited<ReturnType<typeof useEmulator>>
type Principal = Awaited<ReturnType<Emulator['addPrincipal']>>

let emulator: Emulator
let sp: Principal
let mi: Principal

beforeAll(async () => {
  emulator = await useEmulator()
  sp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('cli-psql-sp') })
  mi = await emulator.addPrincipal({ kind: 'managedIdentity', name: uniqueName('cli-psql-mi'), assignment: 'user' })
})

const spFlags = () => servicePrincipalFlags(emulator, sp)

const conninfo = (extra = '') =>
  `host=localhost port=${emulator.pg.port} dbname=${emulator.pg.database} sslrootcert=${emulator.caPath}${extra}`

describe('pg-entra psql', () => {
  it('runs psql as the managed identity, the user derived from the token', async () => {
    const env = emulator.env({ profile: 'managed-identity', principal: mi.name })
    const { code, stdout, stderr } = await runCli(['psql', '--', conninfo(), '-tAc', 'select current_user'], {
      IDENTITY_ENDPOINT: env.IDENTITY_ENDPOINT,
      IDENTITY_HEADER: env.IDENTITY_HEADER,
      AZURE_CLIENT_ID: env.AZURE_CLIENT_ID,
    })
    expect(stderr).toBe('')
    expect(stdout.trim()).toBe(mi.name)
    expect(code).toBe(0)
  })

  it('takes pg-entra options first and psql arguments after them, -U as given', async () => {
    const { code, stdout, stderr } = await runCli(
      [
        'psql',
        ...spFlags(),
        '-h',
        'localhost',
        '-p',
        String(emulator.pg.port),
        '-U',
        sp.roleName!,
        '-d',
        'postgres',
        '-tAc',
        'select current_user',
      ],
      { AZURE_CLIENT_SECRET: sp.secret, PGSSLROOTCERT: emulator.caPath },
    )
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout.trim()).toBe(sp.roleName)
  })

  it('a role the token does not map to: psql reports the refusal and its exit code comes back', async () => {
    const role = uniqueName('cli-psql-nobody')
    const { code, stderr } = await runCli(['psql', ...spFlags(), '--', conninfo(` user=${role}`), '-c', 'select 1'], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expect(stderr).toContain(`password authentication failed for user "${role}"`)
    // Then what `pg-entra check` would say: the statement that creates the role for this token's principal.
    const hint = stderr.split('\n').find((line) => line.startsWith('hint: '))
    expect(hint).toBe(
      `hint: the server refused the token for role "${role}" (token principal: servicePrincipal oid ${sp.objectId}). ` +
        'If the role does not exist, an Entra admin connected to the postgres database creates it for this principal: ' +
        `select * from pgaadauth_create_principal_with_oid('${role}', '${sp.objectId}', 'service', false, false); ` +
        'If it exists, it is mapped to another principal: connect as the role of this one (pg-entra whoami). ' +
        `pg-entra check --user ${role} runs every step.`,
    )
    expect(stderr).not.toContain(sp.secret!)
    expect(code).toBe(2)
  })

  it('a failure that is not a refused login gets no role hint', async () => {
    const { code, stderr } = await runCli(
      ['psql', ...spFlags(), '--', conninfo(` user=${sp.roleName}`), '-c', 'select * from no_such_table'],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    expect(stderr).toContain('relation "no_such_table" does not exist')
    expect(stderr).not.toContain('hint: the server refused')
    expect(code).toBe(1)
  })

  it('a service principal without a user: USER_NOT_DERIVABLE with the hint, psql not started', async () => {
    const { code, stdout, stderr } = await runCli(['psql', ...spFlags(), '--', conninfo(), '-c', 'select 1'], {
      AZURE_CLIENT_SECRET: sp.secret,
    })
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(/^USER_NOT_DERIVABLE: /)
    expect(stderr).toContain(sp.objectId)
    expect(stderr).toMatch(/\nhint: set the user/)
  })

  it('a wrong secret stops before psql with code and hint', async () => {
    const { code, stderr } = await runCli(['psql', ...spFlags(), '--', conninfo(` user=${sp.roleName}`)], {
      AZURE_CLIENT_SECRET: 'not-it',
    })
    expect(code).toBe(2)
    expect(stderr).toMatch(/^CREDENTIAL_REJECTED: .*\nhint: /s)
  })

  it('refuses a connection string that weakens sslmode, however libpq lets it be spelled', async () => {
    for (const weak of [" sslmode='disable'", ' sslmode = prefer', ' sslmode=allow', ' sslmode=verify-ca']) {
      const { code, stderr } = await runCli(['psql', ...spFlags(), '--', conninfo(` user=${sp.roleName}${weak}`)], {
        AZURE_CLIENT_SECRET: sp.secret,
      })
      expect(stderr, weak).toMatch(/^TLS_REQUIRED: sslmode=(disable|prefer|allow|verify-ca) would let the token travel/)
      expect(code).toBe(2)
    }
    const uri = `postgresql://${sp.roleName}@localhost:${emulator.pg.port}/postgres?%73slmode=%64isable`
    const { code, stderr } = await runCli(['psql', ...spFlags(), '--', uri], { AZURE_CLIENT_SECRET: sp.secret })
    expect(stderr).toMatch(/^TLS_REQUIRED: sslmode=disable/)
    expect(code).toBe(2)
  })

  it("sslmode=require (as Azure's portal writes it) is taken as verify-full, with a warning", async () => {
    const { code, stdout, stderr } = await runCli(
      ['psql', ...spFlags(), '--', conninfo(` user=${sp.roleName} sslmode=require`), '-tAc', 'select current_user'],
      { AZURE_CLIENT_SECRET: sp.secret },
    )
    expect(stderr).toBe('warning: sslmode=require in the connection string replaced by verify-full\n')
    expect(stdout.trim()).toBe(sp.roleName)
    expect(code).toBe(0)
  })

  describe('the token goes only to a verified server, whatever else tells libpq otherwise', () => {
    let impostor: Impostor
    let untrusted: Impostor
    let dir: string
    beforeAll(async () => {
      impostor = await startImpostor('decline-tls')
      untrusted = await startImpostor(await (await createCertificateAuthority()).issueServerCertificate())
      dir = mkdtempSync(join(tmpdir(), 'pg-entra-psql-'))
      writeFileSync(join(dir, 'pg_service.conf'), `[plain]\nhost=127.0.0.1\nport=${impostor.port}\nsslmode=disable\n`)
    })
    afterAll(async () => {
      await impostor.close()
      await untrusted.close()
      rmSync(dir, { recursive: true, force: true })
    })

    // Each of these would reach an impostor (it asks for a cleartext password) with the sslmode libpq would otherwise
    // use: disable from a service file (which wins over PGSSLMODE) for the one that declines TLS; require, which
    // verifies nothing when it has no root certificate (verify-full then refuses to start), from ssl=true for the one
    // whose certificate is from a CA nobody trusts.
    const routes: [string, () => Impostor, string[], Record<string, string>, RegExp][] = [
      ['PGSERVICE', () => impostor, ['-c', 'select 1'], { PGSERVICE: 'plain' }, /server does not support SSL/],
      [
        'service= in the string',
        () => impostor,
        ['service=plain', '-c', 'select 1'],
        {},
        /server does not support SSL/,
      ],
      [
        'a plain database name with PGSERVICE',
        () => impostor,
        ['postgres', '-c', 'select 1'],
        { PGSERVICE: 'plain' },
        /server does not support SSL/,
      ],
      [
        'a URI with ssl=true',
        () => untrusted,
        ['-d', 'postgresql://127.0.0.1:PORT/postgres?ssl=true', '-c', 'select 1'],
        { PGSSLROOTCERT: '/nonexistent/root.crt' },
        /root certificate file "\/nonexistent\/root.crt" does not exist/,
      ],
    ]
    for (const [name, target, args, env, refusal] of routes) {
      it(name, async () => {
        const server = target()
        const before = server.received().length
        const { code, stderr } = await runCli(
          ['psql', ...spFlags(), '-U', sp.roleName!, ...args.map((arg) => arg.replace('PORT', String(server.port)))],
          { AZURE_CLIENT_SECRET: sp.secret, PGSERVICEFILE: join(dir, 'pg_service.conf'), ...env },
        )
        expect(stderr).toMatch(refusal)
        expect(code).toBe(2)
        expect(server.received().subarray(before).toString('latin1')).not.toMatch(/eyJ/)
      })
    }
  })

  it('uses sslmode=verify-full even when PGSSLMODE says otherwise: an untrusted server is refused', async () => {
    const { code, stderr } = await runCli(
      ['psql', ...spFlags(), '--', `host=localhost port=${emulator.pg.port} user=${sp.roleName}`, '-c', 'select 1'],
      {
        AZURE_CLIENT_SECRET: sp.secret,
        PGSSLMODE: 'require',
      },
    )
    expect(stderr).toContain('PGSSLMODE=require replaced by verify-full')
    expect(stderr).toMatch(/certificate verify failed/)
    expect(code).toBe(2)
  })

  it('a missing psql is MISSING_DEPENDENCY with the install hint', async () => {
    const { code, stderr } = await runCli(['psql', ...spFlags(), '-U', sp.roleName!], {
      AZURE_CLIENT_SECRET: sp.secret,
      PG_ENTRA_PSQL: '/nonexistent/psql',
    })
    expect(code).toBe(2)
    expect(stderr).toMatch(/^MISSING_DEPENDENCY: psql was not found.*\nhint: install the PostgreSQL client/s)
  })

  it("--help is pg-entra's; psql's own help needs no token", async () => {
    const ours = await runCli(['psql', '--help'])
    expect(ours.code).toBe(0)
    expect(ours.stdout).toContain('Usage: pg-entra psql')
    const theirs = await runCli(['psql', '--', '--help'])
    expect(theirs.code).toBe(0)
    expect(theirs.stdout).toContain('psql is the PostgreSQL interactive terminal')
  })
})
