// Run in a child process by token-source-exit.test.ts: a token source on the system clock that gets a token and
// is never closed. Its refresh timer (and, with `outage`, its retry timer) must not keep the process alive.

import { systemClock } from '../../src/shared/clock.js'
import { createTokenSource } from '../../src/token/token-source.js'

const outage = process.argv.includes('outage')
let calls = 0
const tokens = createTokenSource({
  fetchToken: async () => {
    calls++
    if (outage && calls > 1) throw new Error('entra is down')
    // With `outage`, a short token whose refresh falls due at once and then fails, leaving a backoff timer.
    const lifetimeMs = outage ? 4_000 : 60 * 60_000
    return { token: `child-token-${calls}`, expiresOnTimestamp: Date.now() + lifetimeMs }
  },
  clock: systemClock,
  refreshBeforeMs: 5 * 60_000,
  storeKey: 'child',
  backoff: { initialMs: 60_000, maxMs: 60_000 },
  random: () => 0.01,
})

const token = await tokens.get()
if (outage) await new Promise((resolve) => setTimeout(resolve, 2_500))
const stats = tokens.stats()
console.log(JSON.stringify({ got: token.token, calls, nextRefreshInMs: (stats.nextRefresh ?? 0) - Date.now() }))
