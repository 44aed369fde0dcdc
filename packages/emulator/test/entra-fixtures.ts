// Helpers for the emulator's own tests: raw HTTPS calls that trust the emulator's CA, credential options that keep
// @azure/identity on the emulator, and child processes for managed identity (MSAL keeps MI state per process).
import { execFile } from 'node:child_process'
import { request } from 'node:https'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RemoteEmulator } from '../src/index.js'

/** Parsed JSON from the wire or a JWT: tests read fields freely and let assertions catch mismatches. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Json = any

export const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')
export const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')

export function credentialOptions(em: RemoteEmulator) {
  return { authorityHost: em.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: em.ca } }
}

export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, Json> } {
  const [h, p] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')),
  }
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json(): Json
}

export function httpsCall(
  em: RemoteEmulator,
  method: 'GET' | 'POST',
  path: string,
  form?: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const body = form ? new URLSearchParams(form).toString() : undefined
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, em.authorityHost),
      {
        method,
        ca: em.ca,
        agent: false,
        headers: { ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** A client-credentials request with a secret, as MSAL sends it. */
export function secretTokenRequest(em: RemoteEmulator, clientId: string, secret: string, tenant = em.tenantId) {
  return httpsCall(em, 'POST', `/${tenant}/oauth2/v2.0/token`, {
    client_id: clientId,
    client_secret: secret,
    grant_type: 'client_credentials',
    scope: em.scope,
  })
}

/** The environment of a child process: the test runner's (guard included) minus anything Azure-ish, plus extra. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AZURE_|IDENTITY_|MSI_|IMDS_|PG_ENTRA_EMULATOR_)/.test(k)) env[k] = v
  }
  return { ...env, ...extra }
}

export function runNode(
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { env, cwd: opts.cwd ?? packageDir, timeout: opts.timeoutMs ?? 60_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? null) : 0
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr })
      },
    )
  })
}

export function lastJsonLine<T>(stdout: string): T {
  const line = stdout.trim().split('\n').pop() ?? ''
  return JSON.parse(line) as T
}
