// examples/health as a user runs it, against the emulator: the readiness endpoint answers 200 while a token is held,
// 503 once Entra fails and the token has run out, and 200 again after Entra recovers, with no request from anyone
// but the probe. Its bodies never carry the token.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../tools/test/emulator.js'
import { createOwnSchema, examplesDir } from '../_shared/run-example.js'

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})

function start(env: Record<string, string>): Promise<{ port: number; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(examplesDir, 'health', 'main.ts')], {
    cwd: examplesDir,
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{"listening"'))
        resolve({ port: (JSON.parse(line) as { listening: number }).listening, stderr: () => stderr })
    })
    child.once('exit', (code) => reject(new Error(`the example exited (${code}) before listening:\n${stderr}`)))
  })
}

async function get(port: number, path: string) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`)
  const text = await response.text()
  return { status: response.status, text, body: JSON.parse(text) as Record<string, unknown> }
}

describe('examples/health (a readiness endpoint on auth.health())', () => {
  it('answers 200 while a token is held, 503 once Entra fails and it runs out, 200 after recovery', {
    timeout: 180_000,
  }, async () => {
    const emulator = await useEmulator()
    const name = uniqueName('ex-health')
    const principal = await emulator.addPrincipal({ kind: 'servicePrincipal', name })
    await emulator.knobs.set({ principals: { [name]: { tokenLifetimeSeconds: 10 } } })
    const role = principal.roleName ?? name
    await createOwnSchema(emulator, role)
    const app = await start(emulator.env({ profile: 'service-principal', principal: name }))

    const ready = await get(app.port, '/healthz/ready')
    expect(ready.status, app.stderr()).toBe(200)
    expect(ready.body).toMatchObject({ ready: true, consecutiveFailures: 0 })
    expect(ready.body.tokenExpiresInMs).toBeGreaterThan(0)
    expect((await get(app.port, '/')).body).toEqual({ user: role })
    expect((await get(app.port, '/healthz/live')).status).toBe(200)

    await emulator.knobs.failNext({ mode: 500, count: 10_000, principal: name })
    await expect
      .poll(async () => (await get(app.port, '/healthz/ready')).status, { timeout: 60_000, interval: 500 })
      .toBe(503)
    const failing = await get(app.port, '/healthz/ready')
    expect(failing.body).toMatchObject({ ready: false, lastError: { code: 'ENTRA_UNREACHABLE' } })
    expect(failing.body.consecutiveFailures).toBeGreaterThanOrEqual(1)

    await emulator.knobs.reset({ principal: name })
    await expect
      .poll(async () => (await get(app.port, '/healthz/ready')).status, { timeout: 90_000, interval: 1_000 })
      .toBe(200)
    expect((await get(app.port, '/healthz/ready')).body).toMatchObject({ ready: true, consecutiveFailures: 0 })

    const issued = (await emulator.counters()).tokenRequests.byPrincipal[name]?.issued ?? []
    for (const body of [ready.text, failing.text]) {
      for (const token of issued) expect(body).not.toContain(token.tokenId)
      expect(body).not.toMatch(/eyJ[\w-]+\./)
      expect(body).not.toContain(principal.secret!)
    }
  })
})
