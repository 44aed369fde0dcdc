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
    ["host=h password='unterminated", 'unterminated quoted value at position 16'],
    ['host=h secretword', 'expected key=value at position 7'],
    ['host=h sslmod=verify-full', 'unknown key at position 7'],
  ])('refuses %j with INVALID_OPTION and no password in the message', (text, message) => {
    const error = thrown(() => parseConnectionString(text))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toContain(message)
    expect(error.details.option).toBe('connectionString')
    expect(error.message).not.toContain('pw@')
    expect(error.message).not.toContain("unterminated'")
  })
})

describe('key=value errors quote nothing from the string', () => {
  it.each([
    [
      'a password with a space, left unquoted',
      'host=h password=abc defghijklmno dbname=x',
      'expected key=value at position 20',
    ],
    ['a password with a space and an =, left unquoted', 'password=abc defghijklmno=x', 'unknown key at position 13'],
    ['a fragment that is not a key', 'host=h password=abc def-ghijklmno', 'expected key=value at position 20'],
    ['an unterminated value after a fragment', "password=abc defghijklmno='x y", 'unterminated quoted value'],
    ['a bad port', 'host=h port=5432xyzsecret', 'port is not a port number'],
    ['a bad connect_timeout', 'host=h connect_timeout=soonsecret', 'connect_timeout is not a number of seconds'],
  ])('%s: names the position or key, not the text', (_name, text, message) => {
    const error = thrown(() => parseConnectionString(text))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toContain(message)
    for (const fragment of ['defghijklmno', 'def-ghijklmno', 'xyzsecret', 'soonsecret']) {
      expect(`${error.message} ${error.hint}`).not.toContain(fragment)
    }
  })

  it('suggests the known key for a near-miss, by the known name only', () => {
    expect(thrown(() => parseConnectionString('host=h sslmod=verify-full')).hint).toContain('did you mean sslmode?')
    expect(thrown(() => parseConnectionString('host=h DB_NAME=x')).hint).toContain('did you mean dbname?')
    expect(thrown(() => parseConnectionString('host=h pasword=x')).hint).toContain('did you mean password?')
    expect(thrown(() => parseConnectionString('host=h sslomde=x')).hint).toContain('did you mean sslmode?')
    const unrelated = thrown(() => parseConnectionString('host=h password=abc qwertyuiop=1'))
    expect(unrelated.hint).not.toContain('did you mean')
    expect(`${unrelated.message} ${unrelated.hint}`).not.toContain('qwertyuiop')
  })

  it('URL ports and timeouts are refused without echoing them', () => {
    const port = thrown(() => parseConnectionString('host=h port=0'))
    expect(port.message).toBe('connectionString: port is not a port number')
    expect(thrown(() => parseConnectionString('host=h port=1e3')).code).toBe('INVALID_OPTION')
    expect(parseConnectionString('host=h port= 6432')).toEqual({ host: 'h', port: 6432 })
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

  it.each([
    ['PGPORT', 'abc'],
    ['PGPORT', '0'],
    ['PGPORT', '70000'],
    ['PGPORT', '5432.5'],
    ['PGPORT', ' '],
    ['PGCONNECT_TIMEOUT', 'soon'],
    ['PGCONNECT_TIMEOUT', '-1'],
    ['PGCONNECT_TIMEOUT', ' '],
  ])('refuses %s=%j with INVALID_OPTION naming the variable, as libpq does', (name, value) => {
    const error = thrown(() => readPgEnv({ [name]: value }))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.details.option).toBe(name)
    expect(error.message).toContain(name)
    expect(error.hint).toContain(name)
  })

  it('takes PGPORT with blanks around it, and PGCONNECT_TIMEOUT=0 as no timeout', () => {
    expect(readPgEnv({ PGPORT: ' 6432 ', PGCONNECT_TIMEOUT: '0' })).toEqual({ port: 6432 })
    expect(readPgEnv({ PGCONNECT_TIMEOUT: '2.5' })).toEqual({ connectTimeoutSeconds: 2.5 })
  })
})
