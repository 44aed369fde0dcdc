// MikroORM 6 hands a password function to Knex in its provider form, which Knex calls once (again only when an
// expirationChecker says so). pg-entra's function returns the token *function* as the password, so Knex passes it to
// pg and every new connection asks for the current token: nothing can go stale, whatever Knex caches.
import { describe, expect, it } from 'vitest'
import { type DynamicPassword, mikroOrmPassword } from '../../src/adapters/mikro-orm.js'
import { createEntraAuth } from '../../src/auth/entra-auth.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { manualClock } from '../../src/shared/manual-clock.js'

describe('mikroOrmPassword', () => {
  it('gives Knex the token function, which answers with the current token after every refresh', async () => {
    const clock = manualClock()
    let calls = 0
    const credential = {
      async getToken(): Promise<AccessToken> {
        calls++
        return { token: `token-${calls}`, expiresOnTimestamp: clock.now() + 3_600_000 }
      },
    }
    const auth = createEntraAuth({ credential, clock, random: () => 0 }, { env: {} })
    const provided = (await mikroOrmPassword(auth)()) as unknown as DynamicPassword
    expect(provided.password).toBe(auth.password as unknown)
    expect(provided.expirationChecker).toBeUndefined()
    const tokenFunction = provided.password as unknown as () => Promise<string>
    expect(await tokenFunction()).toBe('token-1')
    await auth.refresh()
    // What Knex cached is still the function: the next connection gets the new token.
    expect(await tokenFunction()).toBe('token-2')
    await auth.close()
  })
})
