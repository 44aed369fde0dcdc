// A whole process: import the client, open one connection, run one query, exit. The orchestrator times the process.
import { createContenderPool, readConfig } from '../lib/clients.mjs'

const config = readConfig()
const pool = await createContenderPool(config.contender, config, { max: 1 })
await pool.query('select 1')
await pool.end()
console.log('{}')
process.exit(0)
