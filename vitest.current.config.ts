// The current majors that need a newer Node than the floor (Kysely 0.29 and MikroORM 7: 22; Slonik 49: 24), each
// with its example and a rollover test. Run by .ci/run's Node 24 and 26 legs: `vitest run --config
// vitest.current.config.ts`. On an older Node it refuses to run rather than skip: a skipped client is not a tested one.
import { defineConfig } from 'vitest/config'
import base from './vitest.config.js'

const MIN_NODE = 24
const major = Number(process.versions.node.split('.')[0])
if (major < MIN_NODE) {
  throw new Error(
    `vitest.current.config.ts needs Node >= ${MIN_NODE} (this is ${process.version}): .ci/run runs it on Node 24 and 26`,
  )
}

// The base config's setup (shared emulator, loopback guard, timeouts) with only this suite's files.
export default defineConfig({ ...base, test: { ...base.test, include: ['examples-current/test/**/*.test.ts'] } })
