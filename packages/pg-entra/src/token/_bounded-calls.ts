import type { Clock } from '../shared/clock.js'

/** Calls and pauses that end on time, and all at once when their owner closes. */
export interface BoundedCalls {
  /**
   * Runs `call`, settling with its outcome, or after `ms` with `timeoutError()` (aborting the call's signal with it),
   * or on `cancelAll()` with the closed error. A late outcome of a timed-out call is ignored.
   */
  run<T>(ms: number, call: (signal: AbortSignal) => Promise<T> | T, timeoutError: () => unknown): Promise<T>
  /** Resolves after `ms`; rejects with the closed error on `cancelAll()`. */
  pause(ms: number): Promise<void>
  /** Cancels every timer and settles everything pending with the closed error. */
  cancelAll(): void
}

export function boundedCalls(clock: Clock, closedError: () => unknown): BoundedCalls {
  const cancellers = new Set<() => void>()

  return {
    run(ms, call, timeoutError) {
      const controller = new AbortController()
      return new Promise((resolve, reject) => {
        let done = false
        const finish = (): boolean => {
          if (done) return false
          done = true
          timer.cancel()
          cancellers.delete(cancel)
          return true
        }
        const abortWith = (error: unknown): void => {
          if (!finish()) return
          controller.abort(error)
          reject(error)
        }
        const timer = clock.setTimer(ms, () => abortWith(timeoutError()))
        const cancel = (): void => abortWith(closedError())
        cancellers.add(cancel)
        let outcome: Promise<Awaited<ReturnType<typeof call>>>
        try {
          outcome = Promise.resolve(call(controller.signal))
        } catch (error) {
          outcome = Promise.reject(error)
        }
        outcome.then(
          (value) => finish() && resolve(value),
          (error: unknown) => finish() && reject(error),
        )
      })
    },

    pause(ms) {
      return new Promise<void>((resolve, reject) => {
        const cancel = (): void => {
          timer.cancel()
          reject(closedError())
        }
        const timer = clock.setTimer(ms, () => {
          cancellers.delete(cancel)
          resolve()
        })
        cancellers.add(cancel)
      })
    },

    cancelAll() {
      for (const cancel of [...cancellers]) cancel()
      cancellers.clear()
    },
  }
}
