// A fresh process opens `connections` connections at once; the orchestrator counts token requests at the emulator.
import { createContenderPool, emit, readConfig } from '../lib/clients.mjs'

const config = readConfig()
const pool = await createContenderPool(config.contender, config, { max: config.connections })
const started = performance.now()
const clients = await Promise.all(Array.from({ length: config.connections }, () => pool.connect()))
const elapsedMs = performance.now() - started
for (const client of clients) client.release()
await pool.end()
emit({ connected: clients.length, elapsedMs })
process.exit(0)
