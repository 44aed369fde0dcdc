// Sequential connect, query, close: `count` times, alternating blocks of each contender so that drift on a shared
// machine hits both alike. Reports connections per second for each: that of its median block, so that a burst of
// other work on the machine during a few blocks moves no contender's rate. Every block's time is reported too, so
// that contenders can be compared round by round (blocks that ran next to each other).
import { createContenderPool, emit, readConfig } from '../lib/clients.mjs'
import { median } from '../lib/stats.mjs'

const config = readConfig()
const contenders = config.contenders
const pools = Object.fromEntries(
  await Promise.all(
    contenders.map(async (c) => [
      c,
      await createContenderPool(c, config, { max: 1, idleTimeoutMillis: 1, maxUses: 1 }),
    ]),
  ),
)
// Warm: each contender connects once (token fetched, TLS session, JIT).
for (const c of contenders) await pools[c].query('select 1')

const blockTimes = Object.fromEntries(contenders.map((c) => [c, []]))
const done = Object.fromEntries(contenders.map((c) => [c, 0]))
const blocks = config.blocks
const perBlock = Math.ceil(config.count / blocks)
for (let b = 0; b < blocks; b++) {
  // The order rotates from block to block, so that no contender always follows the same one.
  for (const c of contenders.map((_, i) => contenders[(b + i) % contenders.length])) {
    const started = performance.now()
    for (let i = 0; i < perBlock; i++) {
      const client = await pools[c].connect()
      await client.query('select 1')
      client.release(true) // close: the next connect opens a new connection
    }
    blockTimes[c].push(performance.now() - started)
    done[c] += perBlock
  }
}
await Promise.all(contenders.map((c) => pools[c].end()))
emit(
  Object.fromEntries(
    contenders.map((c) => [
      c,
      { connections: done[c], perSecond: (perBlock / median(blockTimes[c])) * 1000, blockMs: blockTimes[c] },
    ]),
  ),
)
process.exit(0)
