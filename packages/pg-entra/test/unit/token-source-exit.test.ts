import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const child = join(dirname(fileURLToPath(import.meta.url)), '../helpers/token-source-child.ts')

/** Runs the child; resolves with how it ended. It is killed (and the test fails) if it is still alive at `limitMs`. */
function run(
  args: string[],
  limitMs: number,
): Promise<{ code: number | null; killed: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const process_ = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let killed = false
    process_.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    process_.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    const limit = setTimeout(() => {
      killed = true
      process_.kill('SIGKILL')
    }, limitMs)
    process_.on('error', reject)
    process_.on('close', (code) => {
      clearTimeout(limit)
      resolve({ code, killed, stdout, stderr })
    })
  })
}

describe('a process that never calls close()', () => {
  it('exits by itself with a refresh timer pending', async () => {
    const result = await run([], 45_000)
    expect(result.stderr).toBe('')
    expect(result.killed).toBe(false)
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({ got: 'child-token-1', calls: 1 })
    // The refresh was armed about 54-55 minutes ahead: only an unref'd timer lets the process end now.
    expect(report.nextRefreshInMs).toBeGreaterThan(50 * 60_000)
  })

  it('exits by itself with a retry pending after a failed refresh', async () => {
    const result = await run(['outage'], 45_000)
    expect(result.stderr).toBe('')
    expect(result.killed).toBe(false)
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.calls).toBeGreaterThanOrEqual(2)
  })
})
