// A credential call scripted by the test: it stands in for Azure's token endpoint (the real thing is exercised
// against the emulator in the integration tests). Each call records when it was made and its AbortSignal.
import type { AccessToken } from '../../src/shared/access-token.js'
import type { Clock } from '../../src/shared/clock.js'

export type Behaviour = (call: number, signal: AbortSignal) => AccessToken | Promise<AccessToken>

export interface ScriptedCredential {
  fetchToken(signal: AbortSignal): Promise<AccessToken>
  /** What the next calls do (default: a fresh token of `lifetimeMs`). */
  behave(behaviour: Behaviour): void
  readonly calls: number
  /** Clock time of every call. */
  readonly callTimes: number[]
  readonly signals: AbortSignal[]
}

export function scriptedCredential(clock: Clock, lifetimeMs = 60 * 60_000): ScriptedCredential {
  const callTimes: number[] = []
  const signals: AbortSignal[] = []
  let behaviour: Behaviour = (call) => issue(clock, call, lifetimeMs)
  return {
    async fetchToken(signal) {
      callTimes.push(clock.now())
      signals.push(signal)
      return behaviour(callTimes.length, signal)
    },
    behave(next) {
      behaviour = next
    },
    get calls() {
      return callTimes.length
    },
    callTimes,
    signals,
  }
}

/** A token numbered `call`, living `lifetimeMs` from now. */
export function issue(clock: Clock, call: number, lifetimeMs: number, extra: Partial<AccessToken> = {}): AccessToken {
  return { token: `token-${call}`, expiresOnTimestamp: clock.now() + lifetimeMs, ...extra }
}

/** A promise settled by the test; for requests that hang until told otherwise. */
export function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Which way a promise has gone once pending continuations have run, without moving any clock. */
export async function settled<T>(
  promise: Promise<T>,
): Promise<{ state: 'fulfilled'; value: T } | { state: 'rejected'; reason: unknown } | { state: 'pending' }> {
  let outcome: { state: 'fulfilled'; value: T } | { state: 'rejected'; reason: unknown } | { state: 'pending' } = {
    state: 'pending',
  }
  promise.then(
    (value) => {
      outcome = { state: 'fulfilled', value }
    },
    (reason) => {
      outcome = { state: 'rejected', reason }
    },
  )
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  return outcome
}

/** Random numbers the test chooses, in order, repeating the last one. */
export function sequence(...values: number[]): () => number {
  let index = 0
  return () => values[Math.min(index++, values.length - 1)] ?? 0
}
