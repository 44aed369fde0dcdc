// Shared by the reliability tests: the emulator's principal and counters seen from one test's principal, outcomes
// that must settle within a bound, a recorder of unhandled rejections, and a seeded random source.
import type { useEmulator } from '../../../../tools/test/emulator.js'
import type { EntraAuthOptions } from '../../src/auth/types.js'

export type Emu = Awaited<ReturnType<typeof useEmulator>>
export type Principal = Awaited<ReturnType<Emu['addPrincipal']>>

/** Entra options for a service principal with its secret, kept on the emulator (authority and CA). */
export function spOptions(emu: Emu, sp: Principal): EntraAuthOptions {
  return {
    tenantId: sp.tenantId,
    clientId: sp.appId!,
    clientSecret: sp.secret!,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  }
}

/** pg fields for the emulator's front, TLS verified against the emulator's CA. */
export function frontOf(emu: Emu) {
  return { host: emu.pg.host, port: emu.pg.port, database: emu.pg.database, ssl: { ca: emu.ca } }
}

/** What the emulator saw of one principal: token requests, tokens issued, faults injected, connections accepted. */
export interface Seen {
  requests: number
  issued: { tokenId: string; issuedAt: number; expiresAt: number }[]
  failuresInjected: number
  accepted: number
  rejected: number
  /** uti of the token each accepted connection carried, in order */
  acceptedTokenIds: string[]
  reasons: string[]
}

export async function seenBy(emu: Emu, sp: Principal): Promise<Seen> {
  const counters = await emu.counters()
  const tokens = counters.tokenRequests.byPrincipal[sp.name]
  const role = counters.pg.byRole[sp.roleName ?? sp.name]
  return {
    requests: tokens?.requests ?? 0,
    issued: tokens?.issued ?? [],
    failuresInjected: tokens?.failuresInjected ?? 0,
    accepted: role?.accepted ?? 0,
    rejected: role?.rejected ?? 0,
    acceptedTokenIds: role?.tokenIds ?? [],
    reasons: role?.reasons ?? [],
  }
}

export type Outcome<T> =
  | { settled: true; ok: true; value: T; ms: number }
  | { settled: true; ok: false; error: unknown; ms: number }
  | { settled: false; ms: number }

/** How `promise` ended, or `settled: false` when it had not within `boundMs` (a hang). */
export function within<T>(promise: Promise<T>, boundMs: number): Promise<Outcome<T>> {
  const start = Date.now()
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ settled: false, ms: Date.now() - start }), boundMs)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve({ settled: true, ok: true, value, ms: Date.now() - start })
      },
      (error: unknown) => {
        clearTimeout(timer)
        resolve({ settled: true, ok: false, error, ms: Date.now() - start })
      },
    )
  })
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(everyMs)
  }
  return check()
}

/**
 * Takes `auth`'s first token before the measured part of a test, retrying a first attempt that timed out. The first
 * token of a process costs far more than a refresh (loading @azure/identity, then OpenID metadata and a token over
 * TLS): on a busy machine it can outlive a `requestTimeoutMs` sized for refreshes, and the machine's speed must decide
 * nothing in a test. Call it before any fault is injected.
 */
export async function takeFirstToken(auth: { token(): Promise<unknown> }): Promise<void> {
  await import('@azure/identity')
  const taken = await eventually(
    () =>
      auth.token().then(
        () => true,
        () => false,
      ),
    120_000,
    1_000,
  )
  if (!taken) throw new Error('no first token within 120 s: is the emulator up? (EMULATOR_LOG=1 prints its log)')
}

/** Records every unhandled rejection in this process while installed. */
export function recordUnhandledRejections() {
  const seen: unknown[] = []
  const listener = (reason: unknown) => seen.push(reason)
  return {
    seen,
    install: () => void process.on('unhandledRejection', listener),
    uninstall: () => void process.off('unhandledRejection', listener),
  }
}

/** mulberry32: a small seeded generator in [0, 1), so a failing run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A short description of an error for assertion messages (code and first line; the tests check it holds no secret). */
export function describeError(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | undefined
  return `${String(e?.code ?? 'no code')}: ${String(e?.message ?? error).split('\n')[0]}`
}
