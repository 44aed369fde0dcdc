// A token as the stores keep it, and two identity keys, for the store tests.
import { randomBytes } from 'node:crypto'
import type { StoredToken } from '../../src/cache/token-store.js'

export const KEY = 'https://login.example/tenant-a|client-a|https://ossrdbms-aad.database.windows.net/.default'
export const OTHER_KEY = 'https://login.example/tenant-a|client-b|https://ossrdbms-aad.database.windows.net/.default'
export const HOUR = 3_600_000

export function storedToken(overrides: Partial<StoredToken> = {}): StoredToken {
  const now = Date.now()
  return {
    key: KEY,
    token: `eyJ.${randomBytes(24).toString('base64url')}.sig`,
    expiresOnTimestamp: now + HOUR,
    refreshAfterTimestamp: now + HOUR / 2,
    tokenType: 'Bearer',
    fetchedAt: now,
    ...overrides,
  }
}
