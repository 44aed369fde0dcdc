// Runs once in vitest's main process. Every child process the tests start loads the loopback guard through
// NODE_OPTIONS and reports violations to one log file, which is checked when the run ends.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'

const guardPath = join(dirname(fileURLToPath(import.meta.url)), 'loopback-guard.cjs')

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'pg-entra-guard-'))
  const log = join(dir, 'violations.log')
  process.env.LOOPBACK_GUARD_LOG = log
  const require = `--require ${JSON.stringify(guardPath).slice(1, -1)}`
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, require].filter(Boolean).join(' ')
  // Keep every credential of a child process on the emulator: nothing ambient from the developer's shell.
  for (const name of Object.keys(process.env)) {
    if (/^(AZURE_|IDENTITY_|MSI_|IMDS_)/.test(name)) delete process.env[name]
  }

  createRequire(import.meta.url)(guardPath) // the shared emulator runs in this process: guard it too

  const { startEmulator } = await import('../../packages/emulator/src/index.js')
  const emulator = await startEmulator({
    // Strict: a stale token must be refused in tests, not accepted for another minute (the default skew).
    clockSkewSeconds: 2,
    // Shared by every test file at once (five workers; the proxy's 200 concurrent clients among them): room above the
    // front's default cap of 200 sessions, and the same room upstream.
    maxConnections: 800,
    upstream: { kind: 'embedded', maxConnections: 900 },
    log: process.env.EMULATOR_LOG ? (line: string) => console.error(`[emulator] ${line}`) : undefined,
  })
  project.provide('emulatorControlUrl', emulator.controlUrl)

  return async () => {
    await emulator.stop()
    let violations = ''
    try {
      violations = readFileSync(log, 'utf8')
    } catch {}
    rmSync(dir, { recursive: true, force: true })
    if (violations.trim()) throw new Error(`a child process attempted non-loopback traffic:\n${violations}`)
  }
}
