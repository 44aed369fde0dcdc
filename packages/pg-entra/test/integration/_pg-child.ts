import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

export interface ChildResult {
  exitCode: number | null
  output: { ok: boolean; user?: string; code?: string; message?: string; hint?: string }
  stdout: string
  stderr: string
}

/** Runs fixtures/pg-child.ts with `env` added (nothing ambient from AZURE_* or PG*), resolving once it has exited. */
export const hideAzureIdentity = ['--import', join(here, 'fixtures', 'hide-azure-identity.mjs')]

export function runPgChild(
  env: Record<string, string>,
  config: { entra: object; pg: object },
  nodeArgs: string[] = [],
): Promise<ChildResult> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(AZURE_|IDENTITY_|MSI_|IMDS_|PG[A-Z]+$)/.test(name)),
  )
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, join(here, 'fixtures', 'pg-child.ts')], {
      env: { ...base, ...env, PG_ENTRA_CHILD: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    // A child that does not exit by itself (a timer or socket left open) fails the test by this timeout.
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child did not exit by itself within 30 s\n${stdout}\n${stderr}`))
    }, 30_000)
    child.on('error', reject)
    child.on('exit', (exitCode) => {
      clearTimeout(timer)
      const line = stdout.trim().split('\n').at(-1) ?? ''
      try {
        resolve({ exitCode, output: JSON.parse(line), stdout, stderr })
      } catch {
        reject(new Error(`child printed no result (exit ${exitCode})\n${stdout}\n${stderr}`))
      }
    })
  })
}
