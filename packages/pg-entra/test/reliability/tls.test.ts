// A token never travels to a server that offers no TLS, nor over TLS whose certificate does not verify. The servers
// here are impostors written for the test: they record every byte they receive (decrypted, for the TLS one) and
// ask for a cleartext password, as a PostgreSQL server does before it takes an Entra token.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createCertificateAuthority } from '../../../emulator/src/pki/index.js'
import { Client, createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'
import { type Impostor, startImpostor } from '../helpers/impostor.js'
import type { Emu, Principal } from './_reliability.js'

/** What the test needs to know of each attempt: whether pg-entra refused with a coded error whose hint is about TLS. */
function refusal(error: unknown) {
  return {
    pgEntraError: isPgEntraError(error),
    code: (error as { code?: unknown } | undefined)?.code,
    hinted: isPgEntraError(error) && typeof error.hint === 'string' && /tls|ssl|certificate/i.test(error.hint),
  }
}

const TLS_REFUSED = { pgEntraError: true, code: 'TLS_REQUIRED', hinted: true }

/** Runs every attempt (each must fail) and returns how each failed, by name. */
async function outcomesOf(tries: Record<string, () => Promise<unknown>>) {
  const outcomes: Record<string, { error: unknown; refusal: ReturnType<typeof refusal> }> = {}
  for (const [name, attempt] of Object.entries(tries)) {
    const error = await failureOf(attempt)
    outcomes[name] = { error, refusal: refusal(error) }
  }
  return {
    refusals: Object.fromEntries(Object.entries(outcomes).map(([name, o]) => [name, o.refusal])),
    /** the driver's own code: the error's, or its cause's when pg-entra wrapped it */
    driverCodes: Object.values(outcomes).map((o) => {
      const e = o.error as { code?: unknown; cause?: { code?: unknown } }
      return isPgEntraError(e) ? e.cause?.code : e.code
    }),
    expected: Object.fromEntries(Object.keys(tries).map((name) => [name, TLS_REFUSED])),
  }
}

async function failureOf(attempt: () => Promise<unknown>): Promise<unknown> {
  try {
    await attempt()
  } catch (error) {
    return error
  }
  throw new Error('the connection was expected to fail')
}

/** Connect attempts through pg-entra's Client and pool, with the ssl settings users write. */
function attempts(emu: Emu, sp: Principal, auth: EntraAuth, impostor: Impostor, caPath: string) {
  const base = { host: impostor.host, port: impostor.port, database: 'postgres', user: sp.roleName! }
  const url = `postgres://${encodeURIComponent(sp.roleName!)}@${impostor.host}:${impostor.port}/postgres`
  const viaPool = (config: object) => async () => {
    const pool = createPool({ ...config, entra: auth, max: 1 })
    pool.on('error', () => {})
    try {
      await pool.query('select 1')
    } finally {
      await pool.end()
    }
  }
  const viaClient = (config: object) => async () => {
    const client = new Client({ ...config, entra: auth })
    client.on('error', () => {})
    try {
      await client.connect()
    } finally {
      await client.end().catch(() => {})
    }
  }
  return {
    'pool, default ssl': viaPool(base),
    'pool, ssl: { ca }': viaPool({ ...base, ssl: { ca: emu.ca } }),
    'client, ssl: true': viaClient({ ...base, ssl: true }),
    'client, sslmode=verify-full with sslrootcert': viaClient({
      connectionString: `${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caPath)}`,
    }),
    'pool, sslmode=require': viaPool({ connectionString: `${url}?sslmode=require` }),
  }
}

describe('TLS: no token without verified TLS', () => {
  let emu: Emu
  let sp: Principal
  let auth: EntraAuth
  let token: string
  beforeAll(async () => {
    emu = await useEmulator()
    sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('tls-impostor') })
    auth = entraAuth({
      tenantId: sp.tenantId,
      clientId: sp.appId!,
      clientSecret: sp.secret!,
      authorityHost: emu.authorityHost,
      authorityCa: emu.ca,
    })
    token = (await auth.token()).token // cached: every attempt below has a token it could send
  })
  afterAll(() => auth?.close())

  it('the impostors record a password sent to them (control: plain pg with the token as password)', async () => {
    const plain = await startImpostor('decline-tls')
    const authority = await createCertificateAuthority()
    const untrusted = await startImpostor(await authority.issueServerCertificate())
    try {
      const toPlain = new pg.Client({ host: plain.host, port: plain.port, user: 'x', password: token, ssl: false })
      await failureOf(() => toPlain.connect())
      expect(plain.received().includes(token)).toBe(true)
      const toUntrusted = new pg.Client({
        host: untrusted.host,
        port: untrusted.port,
        user: 'x',
        password: token,
        ssl: { rejectUnauthorized: false },
      })
      await failureOf(() => toUntrusted.connect())
      expect(untrusted.received().includes(token)).toBe(true)
    } finally {
      await plain.close()
      await untrusted.close()
    }
  })

  for (const negotiation of ['decline-tls', 'skip-negotiation'] as const) {
    it(`a server that offers no TLS (${negotiation}) gets no token, and pg-entra says TLS_REQUIRED`, async () => {
      const impostor = await startImpostor(negotiation)
      try {
        const { refusals, expected } = await outcomesOf(attempts(emu, sp, auth, impostor, emu.caPath))
        expect(impostor.received().length).toBeGreaterThan(0) // the client did talk to it
        expect(impostor.received().includes(token)).toBe(false)
        expect(impostor.received().includes(token.split('.')[2]!)).toBe(false)
        expect(refusals).toEqual(expected)
      } finally {
        await impostor.close()
      }
    })
  }

  it('weak TLS settings (options, URL, PG* variables) are refused before any byte reaches the server', async () => {
    const impostor = await startImpostor('decline-tls')
    const url = `postgres://${encodeURIComponent(sp.roleName!)}@${impostor.host}:${impostor.port}/postgres`
    const base = { host: impostor.host, port: impostor.port, database: 'postgres', user: sp.roleName! }
    const weak: Record<string, { config: object; env?: Record<string, string> }> = {
      'ssl: false': { config: { ...base, ssl: false } },
      'rejectUnauthorized: false': { config: { ...base, ssl: { rejectUnauthorized: false } } },
      'sslmode=disable': { config: { connectionString: `${url}?sslmode=disable` } },
      'sslmode=allow': { config: { connectionString: `${url}?sslmode=allow` } },
      'sslmode=prefer': { config: { connectionString: `${url}?sslmode=prefer` } },
      'sslmode=no-verify': { config: { connectionString: `${url}?sslmode=no-verify` } },
      'sslmode=require with uselibpqcompat': {
        config: { connectionString: `${url}?sslmode=require&uselibpqcompat=true` },
      },
      'PGSSLMODE=disable': { config: base, env: { PGSSLMODE: 'disable' } },
      'PGSSLMODE=prefer': { config: base, env: { PGSSLMODE: 'prefer' } },
    }
    const saved = { ...process.env }
    try {
      const codes: Record<string, unknown> = {}
      for (const [name, { config, env }] of Object.entries(weak)) {
        Object.assign(process.env, env)
        try {
          const error = await failureOf(async () => {
            const pool = createPool({ ...config, entra: auth })
            pool.on('error', () => {})
            try {
              await pool.query('select 1')
            } finally {
              await pool.end()
            }
          })
          codes[name] = refusal(error)
        } finally {
          for (const key of Object.keys(env ?? {})) {
            if (saved[key] === undefined) delete process.env[key]
            else process.env[key] = saved[key]
          }
        }
      }
      expect(codes).toEqual(Object.fromEntries(Object.keys(weak).map((name) => [name, TLS_REFUSED])))
      expect(impostor.received().length).toBe(0)
    } finally {
      await impostor.close()
    }
  })

  it('a TLS server whose certificate chains to an untrusted CA gets no token', async () => {
    const authority = await createCertificateAuthority({ commonName: 'impostor CA' })
    const impostor = await startImpostor(await authority.issueServerCertificate())
    try {
      const { refusals, expected } = await outcomesOf(attempts(emu, sp, auth, impostor, emu.caPath))
      expect(impostor.received().includes(token)).toBe(false)
      expect(refusals).toEqual(expected)
    } finally {
      await impostor.close()
    }
  })

  it('a TLS server whose certificate, from a trusted CA, names another host gets no token', async () => {
    // The certificate covers 127.0.0.1, ::1 and localhost; the impostor listens on 127.0.0.2 (still loopback).
    const authority = await createCertificateAuthority({ commonName: 'trusted CA' })
    const impostor = await startImpostor(await authority.issueServerCertificate(), '127.0.0.2')
    const dir = mkdtempSync(join(tmpdir(), 'pg-entra-tls-'))
    const caPath = join(dir, 'trusted-ca.pem')
    writeFileSync(caPath, authority.caPem)
    const base = { host: impostor.host, port: impostor.port, database: 'postgres', user: sp.roleName! }
    try {
      const tries: Record<string, () => Promise<unknown>> = {
        'pool, ssl: { ca }': async () => {
          const pool = createPool({ ...base, ssl: { ca: authority.caPem }, entra: auth, max: 1 })
          pool.on('error', () => {})
          try {
            await pool.query('select 1')
          } finally {
            await pool.end()
          }
        },
        'client, sslmode=verify-full with sslrootcert': async () => {
          const client = new Client({
            connectionString: `postgres://${sp.roleName}@${impostor.host}:${impostor.port}/postgres?sslmode=verify-full&sslrootcert=${encodeURIComponent(caPath)}`,
            entra: auth,
          })
          client.on('error', () => {})
          try {
            await client.connect()
          } finally {
            await client.end().catch(() => {})
          }
        },
      }
      const { refusals, driverCodes, expected } = await outcomesOf(tries)
      expect(driverCodes).toEqual(['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_INVALID']) // not the chain
      expect(impostor.received().includes(token)).toBe(false)
      expect(refusals).toEqual(expected)
    } finally {
      await impostor.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
