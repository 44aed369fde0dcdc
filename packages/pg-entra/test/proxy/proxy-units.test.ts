// The proxy's and the exec command's pure pieces: loopback rules, the log line, the URL exec gives a tool.
import { describe, expect, it } from 'vitest'
import { connectionFrom, tokenUrl } from '../../src/cli/commands/exec.js'
import { connectionLine, serverFrom } from '../../src/cli/commands/proxy.js'
import { parseStartupParameters, startupMessage } from '../../src/proxy/wire.js'
import { isLoopbackHost } from '../../src/shared/loopback.js'

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true)
  })
  it.each(['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', '128.0.0.1', 'localhost.example.com', 'db'])(
    '%s is not',
    (host) => {
      expect(isLoopbackHost(host)).toBe(false)
    },
  )
})

describe('the start-up message', () => {
  it('round-trips parameters and keeps the protocol version', () => {
    const params = new Map([
      ['user', 'orders_api'],
      ['database', 'orders'],
      ['application_name', 'psql'],
    ])
    const packet = startupMessage(196610, params)
    expect(packet.readUInt32BE(0)).toBe(packet.length)
    expect(packet.readUInt32BE(4)).toBe(196610)
    expect(parseStartupParameters(packet)).toEqual(params)
  })
})

describe('pg-entra proxy', () => {
  it('logs a connection without any secret, and a refusal with its SQLSTATE', () => {
    const base = { time: '2026-12-01T12:00:00.000Z', client: '127.0.0.1:5555', user: 'me', database: 'orders' }
    expect(connectionLine({ ...base, outcome: 'connected' })).toBe(
      '2026-12-01T12:00:00.000Z 127.0.0.1:5555 user=me database=orders connected',
    )
    expect(
      connectionLine({ ...base, outcome: 'refused', code: '28P01', reason: 'password authentication failed' }),
    ).toBe(
      '2026-12-01T12:00:00.000Z 127.0.0.1:5555 user=me database=orders refused 28P01: password authentication failed',
    )
  })

  it('takes the server from PG*, a connection string over them, or a bare host name', () => {
    const env = { PGHOST: 'from-env', PGPORT: '6543', PGSSLROOTCERT: '/ca.pem' }
    expect(serverFrom(undefined, undefined, env)).toEqual({ host: 'from-env', port: 6543, sslrootcert: '/ca.pem' })
    expect(serverFrom('myserver.postgres.database.azure.com', undefined, {})).toMatchObject({
      host: 'myserver.postgres.database.azure.com',
    })
    expect(serverFrom('host=h port=7000 sslmode=verify-ca', '/other.pem', env)).toMatchObject({
      host: 'h',
      port: 7000,
      sslmode: 'verify-ca',
      sslrootcert: '/other.pem',
    })
    expect(() => serverFrom(undefined, undefined, {})).toThrow(/needs the server/)
  })
})

describe('pg-entra exec', () => {
  it('reads PG*, then --url, then the flags; a password anywhere is dropped or refused', () => {
    const env = { PGHOST: 'env-host', PGUSER: 'env-user', PGPASSWORD: 'old', PGDATABASE: 'envdb' }
    const fields = connectionFrom({ url: 'postgres://url-user@url-host:6432/urldb', database: 'flagdb' }, env)
    expect(fields).toMatchObject({ host: 'url-host', port: 6432, user: 'url-user', database: 'flagdb' })
    expect(fields.password).toBeUndefined()
    expect(() => connectionFrom({ url: 'postgres://u:pw@h/db' }, {})).toThrow(/--url carries a password/)
  })

  it('builds a URL with every part encoded and sslmode=verify-full', () => {
    const url = tokenUrl(
      { host: '::1', port: 5432, database: 'my db' },
      'me@contoso.com',
      'a.b/c+d',
      '/tmp/ca dir/root.crt',
    )
    expect(url).toBe(
      'postgresql://me%40contoso.com:a.b%2Fc%2Bd@[::1]:5432/my%20db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20dir%2Froot.crt',
    )
    const parsed = new URL(url)
    expect(decodeURIComponent(parsed.password)).toBe('a.b/c+d')
  })
})
