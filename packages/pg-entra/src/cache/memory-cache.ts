import type { StoredToken, TokenStore } from './token-store.js'

/** The default store: this process's memory. No lease: within one process the token source is the single flight. */
export function memoryCache(): TokenStore {
  const tokens = new Map<string, StoredToken>()
  return {
    kind: 'memory',
    async get(key) {
      return tokens.get(key)
    },
    async set(token) {
      tokens.set(token.key, { ...token })
    },
    async discard(key, token) {
      if (tokens.get(key)?.token === token) tokens.delete(key)
    },
    async close() {
      tokens.clear()
    },
  }
}
