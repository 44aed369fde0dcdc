import { inspect } from 'node:util'
import type { Options } from 'sequelize'
import { afterEach, describe, expect, it } from 'vitest'
import { connectionLifetime, sequelizeOptions } from '../../src/adapters/sequelize.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { fakeJwt } from './_jwt.js'
import { rejected, thrown } from './_thrown.js'

const closers: EntraAuth[] = []
afterEach(async () => {
  for (const auth of closers.splice(0)) await auth.close()
})

function authFor(claims: Record<string, unknown>) {
  let issued = 0
  const auth = entraAuth({
    credential: {
      getToken: async () => ({
        token: fakeJwt({ ...claims, n: ++issued }),
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    },
  })
  closers.push(auth)
  return auth
}

type Hook = (...args: unknown[]) => Promise<void>
const hooksOf = (options: Options) => options.hooks as unknown as { beforeConnect: Hook; afterConnect: Hook }
const where = { host: 'db.example', port: 5432, database: 'shop' }

describe('sequelizeOptions', () => {
  it('resolves host, user from the token and verified TLS; no password in the options', async () => {
    const auth = authFor({ upn: 'ada@contoso.example', idtyp: 'user' })
    const options = await sequelizeOptions({ ...where, entra: auth, logging: false })
    expect(options).toMatchObject({
      dialect: 'postgres',
      host: 'db.example',
      port: 5432,
      database: 'shop',
      username: 'ada@contoso.example',
      dialectOptions: { ssl: true },
      logging: false,
    })
    expect(options.password).toBeUndefined()
  })

  it('parses `url` into fields and passes on what Sequelize reads from dialectOptions', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const options = await sequelizeOptions({
      entra: auth,
      url: 'postgres://app@db.example:6432/shop?application_name=shop-api&connect_timeout=7',
      dialectOptions: { statement_timeout: 1000 },
    })
    expect(options).toMatchObject({ host: 'db.example', port: 6432, database: 'shop', username: 'app' })
    expect(options.dialectOptions).toEqual({
      application_name: 'shop-api',
      connectionTimeoutMillis: 7000,
      statement_timeout: 1000,
      ssl: true,
    })
  })

  it('beforeConnect puts the token function in every connection config, each time, out of util.inspect', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const { beforeConnect } = hooksOf(await sequelizeOptions({ ...where, entra: auth }))
    const write: Record<string, unknown> = { host: 'db.example' }
    const replica: Record<string, unknown> = { host: 'replica.example', username: 'reader' }

    await beforeConnect(write)
    const first = (await auth.token()).token
    // pg calls it with the socket in hand: the token goes only over verified TLS, whatever other hooks changed
    expect(write.password).toBe(auth.password)
    expect(await (write.password as () => Promise<string>)()).toBe(first)
    expect(write.username).toBe('ada@contoso.example')
    expect(Object.keys(write)).not.toContain('password')
    expect(inspect(write)).not.toContain(first)

    const second = (await auth.refresh()).token
    expect(second).not.toBe(first)
    // a retry or a new pool slot on the same config, and a read replica (sequelize #17411, #15979)
    await beforeConnect(write)
    await beforeConnect(replica)
    expect(await (write.password as () => Promise<string>)()).toBe(second)
    expect(await (replica.password as () => Promise<string>)()).toBe(second)
    expect(replica.username).toBe('reader')
  })

  it("the application's hooks still run, after pg-entra's", async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const seen: unknown[] = []
    const options = await sequelizeOptions({
      ...where,
      entra: auth,
      hooks: {
        beforeConnect: (config) => void seen.push(config.password),
        afterConnect: (_connection, config) => void seen.push(config.password),
      },
    })
    const config: Record<string, unknown> = {}
    await hooksOf(options).beforeConnect(config)
    await hooksOf(options).afterConnect({}, config)
    expect(seen).toEqual([auth.password, auth.password])

    const arrays = { beforeConnect: [() => void seen.push('first'), () => void seen.push('second')] }
    const withArrays = await sequelizeOptions({ ...where, entra: auth, hooks: arrays as never })
    await hooksOf(withArrays).beforeConnect({})
    expect(seen.slice(-2)).toEqual(['first', 'second'])
  })

  it('gives each replica the derived user', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const options = await sequelizeOptions({
      ...where,
      entra: auth,
      replication: { read: [{ host: 'r1' }, { host: 'r2', username: 'reader' }], write: { host: 'w' } },
    })
    expect(options.replication).toEqual({
      read: [
        { host: 'r1', username: 'ada@contoso.example' },
        { host: 'r2', username: 'reader' },
      ],
      write: { host: 'w', username: 'ada@contoso.example' },
    })
  })

  it('refuses a password, another dialect and unverified TLS', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const withPassword = { ...where, entra: auth, password: 'x' } as unknown as Parameters<typeof sequelizeOptions>[0]
    expect((await rejected(sequelizeOptions(withPassword))).code).toBe('INVALID_OPTION')
    expect((await rejected(sequelizeOptions({ ...where, entra: auth, dialect: 'mysql' }))).code).toBe('INVALID_OPTION')
    const unverified = sequelizeOptions({
      ...where,
      entra: auth,
      dialectOptions: { ssl: { rejectUnauthorized: false } },
    })
    expect((await rejected(unverified)).code).toBe('TLS_REQUIRED')
  })
})

describe('connectionLifetime: the maximum connection lifetime Sequelize lacks', () => {
  it('refuses a connection once it is older than maxLifetimeSeconds, not before', () => {
    let now = 1_000_000
    const lifetime = connectionLifetime(60, undefined, () => now)
    const connection = {}
    lifetime.stamp(connection)
    now += 59_999
    expect(lifetime.validate(connection)).toBe(true)
    now += 1
    expect(lifetime.validate(connection)).toBe(false)
  })

  it("refuses a connection that ended or failed (pg's public events), otherwise defers to the given validate", async () => {
    const { EventEmitter } = await import('node:events')
    const lifetime = connectionLifetime(undefined, undefined)
    const [healthy, ended, failed] = [new EventEmitter(), new EventEmitter(), new EventEmitter()]
    for (const connection of [healthy, ended, failed]) lifetime.stamp(connection)
    ended.emit('end')
    failed.emit('error', new Error('connection lost'))
    expect(lifetime.validate(healthy)).toBe(true)
    expect(lifetime.validate(ended)).toBe(false)
    expect(lifetime.validate(failed)).toBe(false)
    const mine = connectionLifetime(60, (connection) => (connection as { ok: boolean }).ok)
    expect(mine.validate({ ok: false })).toBe(false)
    expect(mine.validate({ ok: true })).toBe(true)
  })

  it('rejects a lifetime that is not positive', () => {
    expect(thrown(() => connectionLifetime(0, undefined)).code).toBe('INVALID_OPTION')
  })
})
