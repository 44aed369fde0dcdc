import { PgEntraError } from '../errors/pg-entra-error.js'
import { summarize } from '../errors/redact.js'

export type WarningListener = (error: PgEntraError) => void

export interface Warnings {
  /** Reports a store failure once per `quietMs` for the same message, so a Redis outage is one line, not a flood. */
  warn(message: string, options: { hint: string; reason?: unknown; details?: Record<string, string | number> }): void
  listen(listener: WarningListener): () => void
}

export function createWarnings(store: string, now: () => number, first?: WarningListener, quietMs = 60_000): Warnings {
  const listeners = new Set<WarningListener>(first ? [first] : [])
  const lastSaid = new Map<string, number>()
  return {
    warn(message, { hint, reason, details }) {
      const at = now()
      const said = lastSaid.get(message)
      if (said !== undefined && at - said < quietMs) return
      lastSaid.set(message, at)
      // The upstream error is summarised rather than kept as `cause`: util.inspect prints a cause even when it is
      // not enumerable, and a Redis client's error may quote the command, token included.
      const error = new PgEntraError('CACHE_ERROR', message, {
        hint,
        details: { store, ...details, ...(reason === undefined ? {} : { reason: summarize(reason) }) },
      })
      for (const listener of listeners) {
        try {
          listener(error)
        } catch {
          // a listener that throws must not turn a cache miss into a failure
        }
      }
    },
    listen(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
