// Runs the built CLI (dist/cli.mjs) as a child process, the way a user does, with nothing ambient from the shell.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.mjs')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** The parent's environment without credentials, PG* settings or colour switches; `env` is added on top. */
export function cleanEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(AZURE_|IDENTITY_|MSI_|IMDS_|PG|NODE_EXTRA_CA_CERTS$|FORCE_COLOR$|NO_COLOR$)/.test(name)) continue
    base[name] = value
  }
  for (const [name, value] of Object.entries(env)) if (value !== undefined) base[name] = value
  return base
}

export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build -w pg-entra first`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
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

/** The payload of a JWT, unverified: enough to see whose token the CLI printed. */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

/** `pg-entra check` prints one line per step (status in 5 columns, step in 15, detail), then an indented hint. */
export function stepLine(stdout: string, step: string): { status: string; detail: string; hint: string | undefined } {
  const lines = stdout.split('\n')
  const index = lines.findIndex((line) => line.slice(6, 21).trim() === step)
  if (index === -1) throw new Error(`no line for step "${step}" in:\n${stdout}`)
  const line = lines[index]!
  const next = lines[index + 1]?.trim()
  return {
    status: line.slice(0, 5).trim(),
    detail: line.slice(22),
    hint: next?.startsWith('hint:') ? next.slice('hint:'.length).trim() : undefined,
  }
}

/** The credential flags of a service principal of the emulator (its secret goes in AZURE_CLIENT_SECRET). */
export function servicePrincipalFlags(
  emulator: { tenantId: string; authorityHost: string; caPath: string },
  principal: { appId?: string },
): string[] {
  return [
    '--tenant-id',
    emulator.tenantId,
    '--client-id',
    principal.appId!,
    '--authority-host',
    emulator.authorityHost,
    '--authority-ca',
    emulator.caPath,
  ]
}
