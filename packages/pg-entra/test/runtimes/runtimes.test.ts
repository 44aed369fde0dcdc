// pg-entra/pg and pg-entra/postgres under Bun and Deno (devDependencies, binaries from the npm registry), against the
// suite's emulator: the built package, a fresh token for a principal of the test's own, one query each.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..', '..', '..')
const script = join(here, 'connect.mjs')
const bin = (name: string) => join(root, 'node_modules', '.bin', name)

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(command: string, args: string[], env: Record<string, string>): Promise<Run> {
  // Only the emulator's variables and what a shell has (PATH, HOME): no NODE_OPTIONS (the loopback guard is a Node
  // preload), nothing ambient from PG* or AZURE_*.
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

const RUNTIMES: [string, string, string[], RegExp][] = [
  ['Bun', bin('bun'), ['run', script], /^bun 1\./],
  ['Deno', bin('deno'), ['run', '-A', script], /^deno 2\./],
]

describe.each(RUNTIMES)('under %s', (_runtime, command, args, version) => {
  it('pg-entra/pg and pg-entra/postgres connect with a fresh token and query', { timeout: 120_000 }, async () => {
    const emulator = await useEmulator()
    const name = uniqueName('runtime')
    const principal = await emulator.addPrincipal({ kind: 'servicePrincipal', name })
    const role = principal.roleName ?? name

    const result = await run(command, args, emulator.env({ profile: 'service-principal', principal: name }))

    expect(result.code, result.stderr + result.stdout).toBe(0)
    const lines = result.stdout.trim().split('\n')
    expect(JSON.parse(lines.at(-1)!)).toEqual({ runtime: expect.stringMatching(version), pg: role, postgres: role })
    const counters = await emulator.counters()
    const issued = counters.tokenRequests.byPrincipal[name]?.issued ?? []
    const byRole = counters.pg.byRole[role]
    // Both connections carried a token the emulator issued to this principal in this run, and none was refused.
    expect(issued.length).toBeGreaterThanOrEqual(1)
    expect(byRole?.accepted).toBeGreaterThanOrEqual(2)
    expect(byRole?.rejected ?? 0).toBe(0)
    const issuedIds = new Set(issued.map((token) => token.tokenId))
    expect(byRole?.tokenIds.every((id) => issuedIds.has(id))).toBe(true)
  })
})
