// @opentelemetry/api is an optional peer: without it pg-entra works and loads nothing of it; with telemetry: false it
// is never imported. Child processes record every package they resolve (fixtures/record-imports.mjs).
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const fixtures = join(import.meta.dirname, 'fixtures')
const dir = mkdtempSync(join(tmpdir(), 'pg-entra-optional-peer-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let sequence = 0
async function child(setting: 'auto' | 'off', hide: string[] = []) {
  const record = join(dir, `imports-${++sequence}.txt`)
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      join(fixtures, 'record-imports.mjs'),
      join(fixtures, 'telemetry-child.ts'),
      setting,
    ],
    { env: { ...process.env, RECORD_IMPORTS_FILE: record, HIDE_PACKAGES: hide.join(',') }, timeout: 60_000 },
  )
  let resolved: string[] = []
  try {
    resolved = readFileSync(record, 'utf8').split('\n').filter(Boolean)
  } catch {
    // nothing resolved at all
  }
  return { output: JSON.parse(stdout.trim().split('\n').at(-1)!) as { token: string; ready: boolean }, resolved }
}

describe('@opentelemetry/api as an optional peer', () => {
  it('is imported by default when installed', { timeout: 90_000 }, async () => {
    const { output, resolved } = await child('auto')
    expect(output).toMatchObject({ token: 'child-token-1', ready: true })
    expect(resolved).toContain('@opentelemetry/api')
  })

  it('is never imported with telemetry: false', { timeout: 90_000 }, async () => {
    const { output, resolved } = await child('off')
    expect(output).toMatchObject({ token: 'child-token-1', ready: true })
    expect(resolved.filter((name) => name.startsWith('@opentelemetry/'))).toEqual([])
  })

  it('is not needed: without it tokens and health work as before', { timeout: 90_000 }, async () => {
    const { output, resolved } = await child('auto', ['@opentelemetry/api'])
    expect(output).toMatchObject({ token: 'child-token-1', ready: true })
    expect(resolved.filter((name) => name.includes('@opentelemetry/'))).toEqual(['hidden:@opentelemetry/api'])
  })
})
