// libpq's connection strings as libpq reads them (fe-connect.c), for pg-entra psql's sslmode pin. What psql does with
// the pinned strings is tested against real psql and impostor servers in test/integration/cli-psql.test.ts.
import { describe, expect, it } from 'vitest'
import { pinVerifyFull } from '../../src/cli/commands/psql.js'
import { parseKeywordValue, sslmodeIn, withVerifyFull } from '../../src/cli/libpq-conninfo.js'

describe('key=value strings, as conninfo_parse reads them', () => {
  it('spaces around =, quotes, backslash escapes, the last keyword winning', () => {
    expect(parseKeywordValue(`host = a  dbname='x y' password=p\\ q user='it\\'s'`)).toEqual([
      ['host', 'a'],
      ['dbname', 'x y'],
      ['password', 'p q'],
      ['user', "it's"],
    ])
    expect(sslmodeIn("sslmode=verify-full sslmode = 'disable'")).toBe('disable')
    expect(parseKeywordValue("dbname='open")).toBeUndefined()
    expect(parseKeywordValue('dbname')).toBeUndefined()
  })

  it('the pin is written back whole: a trailing backslash or quote cannot swallow it', () => {
    const pinned = withVerifyFull('host=evil sslmode=disable dbname=x\\')!
    expect(sslmodeIn(pinned)).toBe('verify-full')
    expect(parseKeywordValue(pinned)).toEqual([
      ['host', 'evil'],
      ['dbname', 'x'],
      ['sslmode', 'verify-full'],
    ])
    expect(withVerifyFull("host=a dbname='x")).toBeUndefined()
  })
})

describe('URIs, as conninfo_uri_parse_options walks them', () => {
  it('percent-encoded keys and values, ssl=true read as require', () => {
    expect(sslmodeIn('postgresql://h/db?%73slmode=%64isable')).toBe('disable')
    expect(sslmodeIn('postgres://h:5432/db?ssl=true')).toBe('require')
    expect(sslmodeIn('postgresql://h/db?sslmode=disable&sslmode=verify-full')).toBe('verify-full')
  })

  it('the pin goes where libpq reads parameters, not into a password or database name', () => {
    expect(withVerifyFull('postgresql://u:p?x@h/db')).toBe('postgresql://u:p?x@h/db?sslmode=verify-full')
    expect(withVerifyFull('postgresql://h')).toBe('postgresql://h?sslmode=verify-full')
    expect(withVerifyFull('postgresql://[::1]:5432,h2:5433/db?a=b&')).toBe(
      'postgresql://[::1]:5432,h2:5433/db?a=b&sslmode=verify-full',
    )
    expect(withVerifyFull('postgresql://h/db?')).toBe('postgresql://h/db?sslmode=verify-full')
    expect(withVerifyFull('postgresql://h/db?sslmode=%ZZ')).toBeUndefined()
    expect(withVerifyFull('postgresql://[::1/db')).toBeUndefined()
  })
})

describe("psql's arguments, as its getopt_long reads them", () => {
  it('the last -d, else the first positional, is pinned; none: one is added', () => {
    expect(pinVerifyFull(['-c', 'select 1'])).toEqual(['--dbname=sslmode=verify-full', '-c', 'select 1'])
    // psql -l alone connects to postgres: so does the string added for it
    expect(pinVerifyFull(['-l'])).toEqual(['--dbname=dbname=postgres sslmode=verify-full', '-l'])
    expect(pinVerifyFull(['-tlU', 'me'])[0]).toBe('--dbname=dbname=postgres sslmode=verify-full')
    expect(pinVerifyFull(['--list', 'orders'])).toEqual(['--list', "dbname='orders' sslmode='verify-full'"])
    expect(pinVerifyFull(['orders', 'alice'])).toEqual(["dbname='orders' sslmode='verify-full'", 'alice'])
    expect(pinVerifyFull(['-d', 'a', '--dbn=host=h'])).toEqual(['-d', 'a', "--dbn=host='h' sslmode='verify-full'"])
    expect(pinVerifyFull(['-tAdhost=h'])).toEqual(["-tAdhost='h' sslmode='verify-full'"])
    expect(pinVerifyFull(['-c', 'host=x', '--', '-weird'])).toEqual([
      '-c',
      'host=x',
      '--',
      "dbname='-weird' sslmode='verify-full'",
    ])
  })
})
