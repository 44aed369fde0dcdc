import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from './emulator.js'

describe('the shared emulator', () => {
  it('is reachable from a test worker and isolates principals by name', async () => {
    const emulator = await useEmulator()
    const a = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('shared-a') })
    const b = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('shared-b') })
    expect(a.appId).not.toBe(b.appId)
    expect(emulator.authorityHost).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(emulator.pg.host).toBe('127.0.0.1')
  })
})
