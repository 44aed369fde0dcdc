import { createHash } from 'node:crypto'
import type { StoredToken } from './token-store.js'

const FORMAT = 1

/** A stable, file-name- and Redis-safe name for an identity key; the key itself stays inside the entry. */
export function identityHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

export function encodeStoredToken(token: StoredToken): string {
  const { key, token: value, expiresOnTimestamp, refreshAfterTimestamp, tokenType, fetchedAt } = token
  return JSON.stringify({
    format: FORMAT,
    key,
    token: value,
    expiresOnTimestamp,
    refreshAfterTimestamp,
    tokenType,
    fetchedAt,
  })
}

/** The token, or undefined when `text` is not an entry this version wrote (junk, truncated, another format). */
export function decodeStoredToken(text: string): StoredToken | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const entry = value as Record<string, unknown>
  if (entry.format !== FORMAT) return undefined
  if (typeof entry.key !== 'string' || typeof entry.token !== 'string' || entry.token === '') return undefined
  if (!isTimestamp(entry.expiresOnTimestamp) || !isTimestamp(entry.fetchedAt)) return undefined
  if (entry.refreshAfterTimestamp !== undefined && !isTimestamp(entry.refreshAfterTimestamp)) return undefined
  if (entry.tokenType !== undefined && typeof entry.tokenType !== 'string') return undefined
  return {
    key: entry.key,
    token: entry.token,
    expiresOnTimestamp: entry.expiresOnTimestamp,
    fetchedAt: entry.fetchedAt,
    ...(entry.refreshAfterTimestamp === undefined ? {} : { refreshAfterTimestamp: entry.refreshAfterTimestamp }),
    ...(entry.tokenType === undefined ? {} : { tokenType: entry.tokenType }),
  }
}

function isTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
}
