// Loaded by vitest before every test file: the loopback guard, and a check after each test that nothing in this
// process tried to leave the machine (libraries may swallow the guard's error, the check does not).
import { createRequire } from 'node:module'
import { afterEach } from 'vitest'

const require = createRequire(import.meta.url)
const guard = require('./loopback-guard.cjs') as { violations(): string[]; clearViolations(): void }

afterEach(() => {
  const violations = guard.violations()
  guard.clearViolations()
  if (violations.length > 0) throw new Error(`non-loopback traffic attempted:\n${violations.join('\n')}`)
})
