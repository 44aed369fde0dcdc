import type { Clock, Timer } from './clock.js'

/** @internal A clock that moves only when told to; for tests. Not exported from the package index. */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that falls due, in order of due time (then of creation). */
  advance(ms: number): void
  /**
   * Like `advance`, but lets promise chains settle before and after each timer fires, so that code which awaits
   * between timers (a retry loop, a store poll) runs as it would in real time. Resolves once time has moved.
   */
  advanceAsync(ms: number): Promise<void>
  /** Moves time to `at` (never backwards), firing due timers like `advance`. */
  set(at: number): void
  /** Timers set and neither fired nor cancelled. */
  pending(): number
  /** Due time of the earliest pending timer. */
  nextTimerAt(): number | undefined
}

interface Entry {
  at: number
  seq: number
  fn: () => void
}

/** Lets every queued microtask and promise continuation run (a macrotask turn drains them all). */
export function flushPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export function manualClock(start = Date.UTC(2026, 0, 1)): ManualClock {
  let now = start
  let seq = 0
  const entries = new Set<Entry>()

  const nextDue = (until: number): Entry | undefined => {
    let first: Entry | undefined
    for (const entry of entries) {
      if (entry.at > until) continue
      if (!first || entry.at < first.at || (entry.at === first.at && entry.seq < first.seq)) first = entry
    }
    return first
  }

  const fire = (entry: Entry): void => {
    entries.delete(entry)
    now = Math.max(now, entry.at)
    entry.fn()
  }

  const clock: ManualClock = {
    now: () => now,
    setTimer(ms: number, fn: () => void): Timer {
      const entry: Entry = { at: now + Math.max(0, ms), seq: seq++, fn }
      entries.add(entry)
      return { cancel: () => entries.delete(entry) }
    },
    advance(ms: number) {
      clock.set(now + ms)
    },
    set(at: number) {
      const target = Math.max(now, at)
      for (let entry = nextDue(target); entry; entry = nextDue(target)) fire(entry)
      now = target
    },
    async advanceAsync(ms: number) {
      const target = now + ms
      await flushPromises()
      for (let entry = nextDue(target); entry; entry = nextDue(target)) {
        fire(entry)
        await flushPromises()
      }
      now = Math.max(now, target)
      await flushPromises()
    },
    pending: () => entries.size,
    nextTimerAt() {
      let at: number | undefined
      for (const entry of entries) if (at === undefined || entry.at < at) at = entry.at
      return at
    },
  }
  return clock
}
