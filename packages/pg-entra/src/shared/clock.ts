export interface Timer {
  cancel(): void
}

/** Time and timers, injected so that tests drive the token source without waiting or patching modules. */
export interface Clock {
  now(): number
  /** Timers are unref'd: a pending refresh never keeps the process alive. */
  setTimer(ms: number, fn: () => void): Timer
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms))
    handle.unref()
    return { cancel: () => clearTimeout(handle) }
  },
}
