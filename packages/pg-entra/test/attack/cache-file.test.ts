// Attacks on the file cache: a swapped entry (another principal's genuine token under this application's key), and
// against the real emulator and pg, the application still connects as itself.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { decodeStoredToken, encodeStoredToken } from '../../src/cache/_stored-token.js'
import { fileCache } from '../../src/cache/file-cache.js'
import type { PgEntraError } from '../../src/errors/pg-entra-error.js'
import { type Emu, frontOf, type Principal, seenBy, spOptions } from '../reliability/_reliability.js'

let emu: Emu
const scratch: string[] = []
beforeAll(async () => {
  emu = await useEmulator()
})
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pg-entra-attack-'))
  scratch.push(dir)
  return dir
}

function recorded(auth: EntraAuth): PgEntraError[] {
  const warnings: PgEntraError[] = []
  auth.on((event) => {
    if (event.type === 'warning') warnings.push(event.error)
  })
  return warnings
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('a swapped file entry', () => {
  let a: Principal
  let b: Principal
  beforeAll(async () => {
    a = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('swap-a') })
    b = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('swap-b') })
  })

  it("holding another principal's genuine token is refused, and the app connects as itself", async () => {
    const root = scratchDir()
    const dir = join(root, 'cache')
    const entries = () => readdirSync(dir).filter((name) => name.endsWith('.json'))
    const first = entraAuth({ ...spOptions(emu, a), cache: fileCache({ dir }) })
    await first.token()
    await until(() => entries().length === 1, 'the entry')
    await first.close()

    const path = join(dir, entries()[0]!)
    const entry = decodeStoredToken(readFileSync(path, 'utf8'))!
    const planted = await emu.token(b.name)
    const expiresOnTimestamp = Date.now() + 3_600_000
    writeFileSync(path, encodeStoredToken({ ...entry, token: planted, expiresOnTimestamp, fetchedAt: Date.now() }), {
      mode: 0o600,
    })

    const auth = entraAuth({ ...spOptions(emu, a), cache: fileCache({ dir }) })
    const warnings = recorded(auth)
    try {
      expect((await auth.token()).token).not.toBe(planted)
      expect((await auth.identity()).objectId).toBe(a.objectId)
      const before = await seenBy(emu, a)
      const client = new pg.Client({ ...frontOf(emu), user: a.roleName, password: auth.password })
      await client.connect()
      try {
        expect((await client.query<{ u: string }>('select current_user as u')).rows[0]!.u).toBe(a.roleName)
      } finally {
        await client.end()
      }
      const after = await seenBy(emu, a)
      expect(after.rejected - before.rejected).toBe(0)
      const refusals = warnings.filter((error) => error.details.action === 'check')
      expect(refusals).toHaveLength(1)
      expect(refusals[0]!.message).toContain(`client (appid ${b.appId}) is not ${a.appId}`)
      expect(inspect(refusals[0], { depth: 10 })).not.toContain(planted.split('.')[2])
    } finally {
      await auth.close()
    }
  })
})
