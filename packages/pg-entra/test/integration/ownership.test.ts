// Whoever makes the EntraAuth closes it: an adapter given Entra options closes its EntraAuth when the client shuts
// down its own way, so no refresh runs afterwards (in-process: tokens of 6 s would be refreshed at about half-life),
// and a process exits by itself once its client is shut down (child processes).
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { adapters, type OwnershipSettings } from './fixtures/ownership.js'

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ownership.ts')
const TOKEN_LIFETIME_S = 6
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function settingsFor(label: string) {
  const emu = await useEmulator()
  const sp = await shortLivedPrincipal(emu, uniqueName(`own-${label.split(' ')[0]!.toLowerCase()}`), TOKEN_LIFETIME_S)
  const settings: OwnershipSettings = {
    entra: {
      tenantId: sp.tenantId,
      clientId: sp.appId!,
      clientSecret: sp.secret!,
      authorityHost: emu.authorityHost,
      authorityCa: emu.ca,
    },
    host: emu.pg.host,
    port: emu.pg.port,
    database: emu.pg.database,
    user: sp.roleName!,
    ca: emu.ca,
  }
  const requests = async () => (await emu.counters()).tokenRequests.byPrincipal[sp.name]?.requests ?? 0
  return { settings, requests }
}

function runChild(name: string, settings: OwnershipSettings): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, name], {
      env: { ...process.env, PG_ENTRA_OWNERSHIP: JSON.stringify(settings) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    // Generous: a busy machine starts tsx slowly. A child kept alive by a timer or socket never exits at all.
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the process did not exit by itself after the client's shutdown\n${stdout}\n${stderr}`))
    }, 90_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) return reject(new Error(`child exited ${code}\n${stdout}\n${stderr}`))
      resolve({ code, stdout })
    })
  })
}

describe.concurrent('ownership: the client that made an EntraAuth closes it', () => {
  for (const name of Object.keys(adapters)) {
    it(`${name}: no token refresh after shutdown`, async () => {
      const { settings, requests } = await settingsFor(name)
      expect(await adapters[name]!(settings)).toBe(1)
      const afterShutdown = await requests()
      expect(afterShutdown).toBeGreaterThanOrEqual(1)
      // An EntraAuth left open would refresh at about half of the 6 s lifetime.
      await sleep(TOKEN_LIFETIME_S * 1000)
      expect(await requests()).toBe(afterShutdown)
    })

    it(`${name}: a process exits by itself after the client's shutdown`, async () => {
      const { settings } = await settingsFor(name)
      const { stdout } = await runChild(name, settings)
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ one: 1 })
    }, 120_000)
  }
})
