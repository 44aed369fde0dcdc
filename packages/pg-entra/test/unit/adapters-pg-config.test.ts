import { mkdtempSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { createCertificateAuthority } from '../../../emulator/src/pki/index.js'
import { Client, createPool, preparePgConfig, resolvePgConfig } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'
import { resolveEntraSsl, tlsFailure, tlsFailureReason } from '../../src/tls/pg-ssl.js'
import { fakeJwt } from './_jwt.js'
import { rejected, thrown } from './_thrown.js'

const dir = mkdtempSync(join(tmpdir(), 'pg-entra-unit-'))
const caPath = join(dir, 'ca.pem')
writeFileSync(caPath, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')

const credential = (claims: Record<string, unknown>) => ({
  getToken: async () => ({ token: fakeJwt(claims), expiresOnTimestamp: Date.now() + 3_600_000 }),
})

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

describe('resolveEntraSsl', () => {
  it('verifies by default and reads sslrootcert', () => {
    expect(resolveEntraSsl(undefined, {}, false)).toBe(true)
    expect(resolveEntraSsl(true, { sslmode: 'verify-full' }, false)).toBe(true)
    expect(resolveEntraSsl(undefined, { sslrootcert: caPath }, false)).toEqual({
      ca: expect.stringContaining('BEGIN CERTIFICATE'),
    })
    expect(resolveEntraSsl(undefined, { sslrootcert: 'system' }, false)).toBe(true)
    expect(resolveEntraSsl({ ca: 'X' }, { sslrootcert: caPath }, false)).toEqual({ ca: 'X' })
    // pg's own reading of sslmode=require verifies (host name included)
    expect(resolveEntraSsl(undefined, { sslmode: 'require' }, false)).toBe(true)
  })

  it.each([
    [false, {}, 'ssl: false'],
    [{ rejectUnauthorized: false }, {}, 'ssl.rejectUnauthorized: false'],
    [undefined, { sslmode: 'disable' }, 'sslmode=disable'],
    [undefined, { sslmode: 'verify-ca', sslrootcert: caPath }, 'sslmode=verify-ca'],
    [undefined, { sslmode: 'require', libpqCompat: true, sslrootcert: caPath }, 'sslmode=require'],
    [{ checkServerIdentity: () => undefined }, {}, 'ssl.checkServerIdentity'],
    [{ servername: 'other.example' }, { host: 'db.example' }, 'ssl.servername'],
    [undefined, { sslmode: 'prefer' }, 'sslmode=prefer'],
    [undefined, { sslmode: 'allow' }, 'sslmode=allow'],
    [undefined, { sslmode: 'no-verify' }, 'sslmode=no-verify'],
    [undefined, { sslmode: 'require', libpqCompat: true }, 'sslmode=require'],
    [undefined, { host: '/var/run/postgresql' }, 'host'],
  ])('refuses ssl %o with %o: TLS_REQUIRED naming %s and the opt-out', (ssl, fields, option) => {
    const error = thrown(() => resolveEntraSsl(ssl, fields, false))
    expect(error.code).toBe('TLS_REQUIRED')
    expect(error.details.option).toBe(option)
    expect(error.hint).toContain('allowUnverifiedTls: true')
  })

  it('lets the explicit opt-out through', () => {
    expect(resolveEntraSsl(false, {}, true)).toBe(false)
    expect(resolveEntraSsl(undefined, { sslmode: 'disable' }, true)).toBe(false)
    expect(resolveEntraSsl(undefined, { sslmode: 'require' }, true)).toEqual({ rejectUnauthorized: false })
  })

  it('quotes an unknown sslmode only when it looks like a mode', () => {
    expect(thrown(() => resolveEntraSsl(undefined, { sslmode: 'bogus' }, false)).message).toContain('"bogus"')
    const odd = thrown(() => resolveEntraSsl(undefined, { sslmode: 'x1Secret@h/db' }, false))
    expect(odd.code).toBe('INVALID_OPTION')
    expect(odd.details.option).toBe('sslmode')
    expect(odd.message).not.toContain('Secret')
  })

  it('names an unreadable sslrootcert', () => {
    const error = thrown(() => resolveEntraSsl(undefined, { sslrootcert: join(dir, 'missing.pem') }, false))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.details.option).toBe('sslrootcert')
  })
})

describe('resolvePgConfig', () => {
  it('parses the connection string into fields, keeps the password function and derives the user', async () => {
    const { config, handle } = await preparePgConfig({
      connectionString: `postgres://db.example.com:6432/orders?sslmode=verify-full&sslrootcert=${caPath}`,
      entra: { credential: credential({ idtyp: 'user', upn: 'ada@contoso.com' }) },
      max: 3,
    })
    closers.push(() => handle.release())
    expect(config).toMatchObject({
      host: 'db.example.com',
      port: 6432,
      database: 'orders',
      user: 'ada@contoso.com',
      max: 3,
    })
    expect(config).not.toHaveProperty('connectionString')
    expect(typeof config.password).toBe('function')
    expect(await config.password()).toMatch(/^ey/)
    expect(config.ssl).toEqual({ ca: expect.stringContaining('BEGIN CERTIFICATE') })
  })

  it('lets explicit fields win over the connection string and the connection string over PG*', async () => {
    const auth = entraAuth({ credential: credential({ upn: 'x@y' }) })
    closers.push(() => auth.close())
    const saved = { ...process.env }
    process.env.PGHOST = 'env-host'
    process.env.PGDATABASE = 'env-db'
    process.env.PGUSER = 'env-user'
    try {
      const { config, handle } = await preparePgConfig({
        connectionString: 'postgres://url-host/url-db',
        user: 'explicit',
        entra: auth,
      })
      closers.push(() => handle.release())
      expect(config).toMatchObject({ host: 'url-host', database: 'url-db', user: 'explicit' })
      const fromEnv = await resolvePgConfig({ entra: auth })
      expect(fromEnv).toMatchObject({ host: 'env-host', database: 'env-db', user: 'env-user' })
    } finally {
      process.env = saved
    }
  })

  it('refuses a password next to entra, and leaves a config without entra alone', async () => {
    const error = await rejected(resolvePgConfig({ password: 'pw', entra: { credential: credential({}) } }))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.details.option).toBe('password')
    const plain = { host: 'h', password: 'pw' }
    expect(await resolvePgConfig(plain)).toEqual(plain)
  })

  it('refuses unverified TLS before any connection is made', async () => {
    expect((await rejected(resolvePgConfig({ ssl: false, entra: { credential: credential({}) } }))).code).toBe(
      'TLS_REQUIRED',
    )
    expect(thrown(() => createPool({ connectionString: 'postgres://h/db?sslmode=disable', entra: {} })).code).toBe(
      'TLS_REQUIRED',
    )
    expect(thrown(() => new Client({ ssl: { rejectUnauthorized: false }, entra: {} })).code).toBe('TLS_REQUIRED')
  })

  it('builds real pg objects', async () => {
    const pool = createPool({ host: '127.0.0.1', user: 'u', entra: { credential: credential({}) } })
    closers.push(() => pool.end())
    expect(pool).toBeInstanceOf(pg.Pool)
    const client = new Client({ host: '127.0.0.1', user: 'u', entra: { credential: credential({}) } })
    expect(client).toBeInstanceOf(pg.Client)
    const plain = createPool({ host: '127.0.0.1', password: 'pw' })
    closers.push(() => plain.end())
    expect(plain).toBeInstanceOf(pg.Pool)
  })
})

describe('pg fields are checked up front', () => {
  const entra = { credential: credential({ upn: 'ada@contoso.com' }) }
  it.each([
    ['port', { port: 'abc' }],
    ['port', { port: -1 }],
    ['port', { port: 0 }],
    ['port', { port: 70_000 }],
    ['port', { port: 5432.5 }],
    ['port', { port: [0] }],
    ['port', { port: '5432abc' }],
    ['host', { host: 42 }],
    ['host', { host: {} }],
    ['user', { user: 42 }],
    ['database', { database: {} }],
    ['application_name', { application_name: 1 }],
    ['options', { options: ['-c', 'x=1'] }],
  ])('%s in %o: INVALID_OPTION naming it, through createPool, Client and resolvePgConfig', async (option, fields) => {
    const config = { ...fields, entra } as never
    for (const error of [
      thrown(() => createPool(config)),
      thrown(() => new Client(config)),
      await rejected(resolvePgConfig(config)),
    ]) {
      expect(error.code).toBe('INVALID_OPTION')
      expect(error.details.option).toBe(option)
      expect(error.message).toContain(option)
      expect(error.hint).toBeTruthy()
    }
  })

  it('takes a port as decimal text, and null or empty fields as not given', async () => {
    const { config, handle } = await preparePgConfig({
      host: '',
      port: '6432' as never,
      database: null as never,
      options: null as never,
      entra,
    })
    closers.push(() => handle.release())
    expect(config).toMatchObject({ host: 'localhost', port: 6432, user: 'ada@contoso.com' })
    expect(config).not.toHaveProperty('database')
    expect(config).not.toHaveProperty('options')
  })

  it.each([
    ['a number', 42, 'INVALID_OPTION'],
    ['an array', [], 'INVALID_OPTION'],
    ['unknown text', 'verify-full', 'INVALID_OPTION'],
    ["pg's 'no-verify'", 'no-verify', 'TLS_REQUIRED'],
  ])('ssl that is %s: %s naming ssl', (_name, ssl, code) => {
    const error = thrown(() => resolveEntraSsl(ssl, {}, false))
    expect(error.code).toBe(code)
    expect(String(error.details.option)).toMatch(/^ssl/)
  })

  it("reads pg's ssl: 'true' as verified TLS", () => {
    expect(resolveEntraSsl('true', {}, false)).toBe(true)
    expect(resolveEntraSsl(null, {}, false)).toBe(true)
  })
})

describe('TLS failures while connecting', () => {
  it.each([
    [{ message: 'The server does not support SSL connections' }, 'server-offers-no-tls'],
    [{ message: 'There was an error establishing an SSL connection' }, 'no-tls-answer'],
    [{ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'untrusted-certificate'],
    [{ code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }, 'untrusted-certificate'],
    [{ code: 'SELF_SIGNED_CERT_IN_CHAIN' }, 'untrusted-certificate'],
    [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'untrusted-certificate'],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'host-name-mismatch'],
    [{ code: 'CERT_HAS_EXPIRED' }, 'invalid-certificate'],
    [{ code: 'CERT_NOT_YET_VALID' }, 'invalid-certificate'],
    [{ code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'handshake-failed'],
    [{ code: 'ERR_TLS_HANDSHAKE_TIMEOUT' }, 'handshake-failed'],
    [{ code: 'EPROTO' }, 'handshake-failed'],
    [{ code: 'ECONNREFUSED' }, undefined],
    [{ code: '28P01', message: 'password authentication failed' }, undefined],
    [undefined, undefined],
  ])('classifies %o as %s', (error, reason) => {
    expect(tlsFailureReason(error)).toBe(reason)
  })

  it('explains each as TLS_REQUIRED with the cause, where, why, and that the token was not sent', () => {
    const cause = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    })
    const error = tlsFailure(cause, { host: 'db.example.test', port: 6432 })!
    expect(error.code).toBe('TLS_REQUIRED')
    expect(error.cause).toBe(cause)
    expect(error.details).toEqual({
      option: 'ssl',
      host: 'db.example.test',
      port: 6432,
      reason: 'untrusted-certificate',
      tlsCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    })
    expect(error.message).toContain('db.example.test:6432')
    expect(error.message).toContain('not sent')
    expect(error.hint).toContain('ssl: { ca')
    expect(error.hint).toContain('sslrootcert')
    expect(error.hint).toContain('PGSSLROOTCERT')
    expect(error.hint).toContain('token was not sent')
    expect(tlsFailure(new Error('The server does not support SSL connections'), { host: 'h', port: 1 })?.hint).toMatch(
      /token was not sent.*TLS/,
    )
    expect(tlsFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), { host: 'h', port: 1 })).toBeUndefined()
  })

  /** A server on loopback that answers pg's SSLRequest with `answer`, or with TLS under `tlsOptions`, and records what it received after. */
  async function server(answer: 'N' | tls.TlsOptions) {
    const received: Buffer[] = []
    const sockets = new Set<net.Socket>()
    const srv = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.once('data', () => {
        if (answer === 'N') {
          socket.write('N')
          socket.on('data', (data) => received.push(data))
          return
        }
        socket.write('S')
        const secure = new tls.TLSSocket(socket, { isServer: true, ...answer })
        secure.on('error', () => {})
        secure.on('data', (data) => received.push(data))
      })
    })
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
    closers.push(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => srv.close(resolve))
    })
    return { port: (srv.address() as net.AddressInfo).port, received }
  }

  async function connectError(port: number, ssl?: object) {
    const client = new Client({
      host: '127.0.0.1',
      port,
      user: 'u',
      ...(ssl ? { ssl } : {}),
      entra: { credential: credential({}) },
    })
    client.on('error', () => {})
    try {
      await client.connect()
    } catch (error) {
      return error
    } finally {
      await client.end().catch(() => {})
    }
    throw new Error('expected the connect to fail')
  }

  it('a server that declines TLS: TLS_REQUIRED through Client, and nothing sent after the SSLRequest', async () => {
    const { port, received } = await server('N')
    const error = await connectError(port)
    expect(isPgEntraError(error) && error.code).toBe('TLS_REQUIRED')
    expect(isPgEntraError(error) && error.details).toMatchObject({
      option: 'ssl',
      port,
      reason: 'server-offers-no-tls',
    })
    expect((error as Error).cause).toMatchObject({ message: 'The server does not support SSL connections' })
    expect(Buffer.concat(received).length).toBe(0)
  })

  it('a certificate from an untrusted CA: TLS_REQUIRED with the Node code, through a pool too', async () => {
    const authority = await createCertificateAuthority({ commonName: 'untrusted CA' })
    const { port, received } = await server(await authority.issueServerCertificate())
    const fromClient = await connectError(port)
    expect(isPgEntraError(fromClient) && fromClient.details).toMatchObject({ reason: 'untrusted-certificate' })
    expect((fromClient as { cause?: { code?: string } }).cause?.code).toMatch(/^UNABLE_TO_|SELF_SIGNED/)
    const pool = createPool({ host: '127.0.0.1', port, user: 'u', entra: { credential: credential({}) }, max: 1 })
    pool.on('error', () => {})
    closers.push(() => pool.end())
    const fromPool = await rejected(pool.query('select 1'))
    expect(fromPool.code).toBe('TLS_REQUIRED')
    expect(Buffer.concat(received).length).toBe(0)
  })

  it('an issuing CA trusted instead of the root: TLS_REQUIRED saying to trust the root, which Azure does not rotate', async () => {
    const authority = await createCertificateAuthority({ commonName: 'pinned' })
    const { port, received } = await server(await authority.issueServerCertificate())
    const error = await connectError(port, { ca: authority.issuingCaPem })
    expect(isPgEntraError(error) && error.details).toMatchObject({
      reason: 'untrusted-certificate',
      tlsCode: 'UNABLE_TO_GET_ISSUER_CERT',
    })
    expect(isPgEntraError(error) && error.hint).toMatch(
      /token was not sent.*is an issuing CA, not a root: trust the root/,
    )
    expect(Buffer.concat(received).length).toBe(0)
  })
})
