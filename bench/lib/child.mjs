// Runs one scenario script in a fresh Node process, loopback guard loaded, and returns its last JSON line.
import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const guardPath = join(here, '..', '..', 'tools', 'test', 'loopback-guard.cjs')

export function guardedEnv(extra = {}) {
  const nodeOptions = [process.env.NODE_OPTIONS, `--require ${guardPath}`].filter(Boolean).join(' ')
  return { ...process.env, ...extra, NODE_OPTIONS: nodeOptions }
}

export function runScenario(script, config, { env = {}, timeoutMs = 300_000 } = {}) {
  const path = join(here, '..', 'scenarios', script)
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path],
      { env: guardedEnv({ ...env, BENCH_CONFIG: JSON.stringify(config) }), timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const last = stdout.trim().split('\n').pop() ?? ''
        if (error) {
          reject(
            new Error(
              `${script} failed (${error.code ?? error.signal}): ${stderr.trim().split('\n').slice(-5).join('\n')}`,
            ),
          )
          return
        }
        try {
          resolve(JSON.parse(last))
        } catch {
          reject(new Error(`${script} printed no JSON result: ${stdout.slice(-500)} ${stderr.slice(-500)}`))
        }
      },
    )
  })
}

/** Runs a scenario script N times at once and resolves when all have finished. */
export function runMany(script, configs, options) {
  return Promise.all(configs.map((config) => runScenario(script, config, options)))
}
