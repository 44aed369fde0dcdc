// The README's first command: `npm run demo`, here with a shorter run. It starts its own emulator.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

function runDemo(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo/main.ts'], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: undefined, NO_COLOR: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function numberAfter(text: string, pattern: RegExp): number {
  const match = pattern.exec(text)
  if (!match) throw new Error(`${pattern} not found in:\n${text}`)
  return Number(match[1]!.replaceAll(',', ''))
}

describe('npm run demo', () => {
  it('keeps a pool querying across token refreshes with no failure, then shows the password fallback', async () => {
    // Tokens live 20-30 s and are refreshed at about half-life, so 16 s always sees at least one refresh.
    const { code, stdout, stderr } = await runDemo({ DEMO_DURATION_SECONDS: '16' })
    expect(code, `${stdout}\n${stderr}`).toBe(0)
    expect(stderr).toBe('')

    const summary = stdout.slice(stdout.indexOf('Summary'))
    expect(summary).toMatch(/queries +[\d,]+ \([\d.]+\/s\), 0 failed/)
    expect(numberAfter(summary, /queries +([\d,]+)/)).toBeGreaterThan(100)
    expect(numberAfter(summary, /tokens +(\d+) fetched/)).toBeGreaterThanOrEqual(2)
    expect(numberAfter(summary, /fetched, (\d+) of them refreshed ahead of expiry/)).toBeGreaterThanOrEqual(1)
    expect(summary).toMatch(/, 0 refresh failures/)
    expect(summary).toMatch(/carrying \d+ distinct tokens?, 0 rejected/)
    expect(stdout).toMatch(/token #2 .*\(refreshed ahead of expiry, the previous one still had \d+ s\)/)
    expect(stdout).toContain('select current_user -> legacy_app')
    expect(stdout).toContain('Done: every query succeeded while tokens rolled over.')

    // Piped: plain periodic progress lines, no terminal escapes.
    expect(stdout).not.toContain('\u001b[')
    expect(stdout.match(/^ +\d+s\/16s +tokens \d+ \(\d+ refreshed ahead/gm)?.length ?? 0).toBeGreaterThanOrEqual(3)
  }, 120_000)
})
