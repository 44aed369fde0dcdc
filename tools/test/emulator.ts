// The one emulator the whole test suite shares (started in global-setup.ts). Tests isolate themselves by creating
// their own principals (uniqueName) and scoping knobs to them.
import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import { connectEmulator } from '../../packages/emulator/src/index.js'

declare module 'vitest' {
  export interface ProvidedContext {
    emulatorControlUrl: string
  }
}

type RemoteEmulator = Awaited<ReturnType<typeof connectEmulator>>
let handle: Promise<RemoteEmulator> | undefined

export function useEmulator(): Promise<RemoteEmulator> {
  const url = inject('emulatorControlUrl')
  if (!url) throw new Error('the shared emulator did not start: see the global setup error above')
  handle ??= connectEmulator(url)
  return handle
}

let sequence = 0
/** A role/principal name no other test file uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++sequence}-${randomBytes(3).toString('hex')}`
}

type Principal = Awaited<ReturnType<RemoteEmulator['addPrincipal']>>

/** A service principal with its own role and its own token lifetime (a knob scoped to it). */
export async function shortLivedPrincipal(
  emu: RemoteEmulator,
  name: string,
  tokenLifetimeSeconds: number,
): Promise<Principal> {
  const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name })
  await emu.knobs.set({ principals: { [sp.name]: { tokenLifetimeSeconds } } })
  return sp
}
