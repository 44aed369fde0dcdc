// pg-entra's published declarations type-check in an application that checks its libraries (skipLibCheck: false),
// against the @types/pg installed (the latest: Client.connect() resolves with the client there, void in older ones).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

describe('declarations', () => {
  it('compile in a strict ESM consumer with skipLibCheck: false', () => {
    const result = spawnSync(process.execPath, [tsc, '-p', join(here, 'fixtures', 'consumer', 'tsconfig.json')], {
      encoding: 'utf8',
    })
    expect(result.stdout + result.stderr).toBe('')
    expect(result.status).toBe(0)
  }, 120_000)
})
