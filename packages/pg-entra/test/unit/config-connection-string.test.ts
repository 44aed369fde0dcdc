import { describe, expect, it } from 'vitest'
import { parseConnectionString, parseKeyValueString } from '../../src/config/connection-string.js'
import { readPgEnv } from '../../src/config/env.js'
import { thrown } from './_thrown.js'

describe('parseConnectionString', () => {
  it('parses a URL into discrete fields, SSL files as paths', () => {
    expect(
      parseConnectionString(
        'postgresql://ada%40contoso.com:pw@db.example.com:6432/orders?sslmode=verify-full&sslrootcert=/etc/ca%20x.pem&application_name=shop',
      ),
    ).toEqual({
      host: 'db.example.com',
      port: 6432,
      database: 'orders',
      user: 'ada@contoso.com',
      password: 'pw',
      applicationName: 'shop',
      sslmode: 'verify-full',
      sslrootcert: '/etc/ca x.pem',
    })
  })

  it('parses IPv6 hosts, missing parts and libpq compat', () => {
    expect(parseConnectionString('postgres://[::1]/db?uselibpqcompat=true&sslmode=require')).toEqual({
      host: '::1',
      database: 'db',
      sslmode: 'require',
      libpqCompat: true,
    })
    expect(parseConnectionString('postgres://h')).toEqual({ host: 'h' })
    expect(parseConnectionString('postgres://h/db?ssl=false')).toEqual({
      host: 'h',
      database: 'db',
      sslmode: 'disable',
    })
  })

  it('parses libpq key=value strings with quotes and escapes', () => {
    expect(
      parseConnectionString(
        "host=h port=5433 dbname='my db' user=u password='it\\'s' sslmode=verify-ca sslrootcert=/ca.pem connect_timeout=5",
      ),
    ).toEqual({
      host: 'h',
      port: 5433,
      database: 'my db',
      user: 'u',
      password: "it's",
      sslmode: 'verify-ca',
      sslrootcert: '/ca.pem',
      connectTimeoutSeconds: 5,
    })
    expect(parseKeyValueString(' host = h  ')).toEqual({ host: 'h' })
  })

  it.each([
    ['', 'connectionString is empty'],
    ['mysql://u:pw@h/db', 'must start with postgres://'],
    ['postgres://u:pw@h:99999/db', 'not a valid URL'],
    ['postgres://u:pw@h1,h2/db', 'several hosts'],
    ["host=h password='unterminated", 'unterminated quoted value for "password"'],
    ['host=h secretword', 'expected key=value'],
    ['host=h sslmod=verify-full', 'unknown key "sslmod"'],
  ])('refuses %j with INVALID_OPTION and no password in the message', (text, message) => {
    const error = thrown(() => parseConnectionString(text))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toContain(message)
    expect(error.details.option).toBe('connectionString')
    expect(error.message).not.toContain('pw@')
    expect(error.message).not.toContain("unterminated'")
  })
})

describe('readPgEnv', () => {
  it('reads the PG* variables libpq reads, skipping empty ones', () => {
    expect(
      readPgEnv({
        PGHOST: 'h',
        PGPORT: '6543',
        PGDATABASE: 'd',
        PGUSER: 'u',
        PGPASSWORD: 'p',
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: '/ca.pem',
        PGAPPNAME: 'app',
        PGOPTIONS: '-c x=1',
        PGCONNECT_TIMEOUT: '3',
        PGSSLCERT: '',
        HOME: '/root',
      }),
    ).toEqual({
      host: 'h',
      port: 6543,
      database: 'd',
      user: 'u',
      password: 'p',
      sslmode: 'verify-full',
      sslrootcert: '/ca.pem',
      applicationName: 'app',
      options: '-c x=1',
      connectTimeoutSeconds: 3,
    })
    expect(readPgEnv({})).toEqual({})
  })
})
