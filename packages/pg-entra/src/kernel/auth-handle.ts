import { entraAuth, isEntraAuth } from '../auth/entra-auth.js'
import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'

/** Entra options (pg-entra makes an EntraAuth and owns it) or an EntraAuth the application made (and closes). */
export type EntraOption = EntraAuthOptions | EntraAuth

/** Who owns the EntraAuth a client uses: whoever holds `owned: true` closes it, nobody else does. */
export interface AuthHandle {
  readonly auth: EntraAuth
  readonly owned: boolean
  /** Closes the EntraAuth if this handle made it; a borrowed one is left to its owner. Idempotent. */
  release(): Promise<void>
}

export function holdAuth(entra: EntraOption): AuthHandle {
  const owned = !isEntraAuth(entra)
  const auth = owned ? entraAuth(entra as EntraAuthOptions) : (entra as EntraAuth)
  let released: Promise<void> | undefined
  return {
    auth,
    owned,
    release() {
      if (!owned) return Promise.resolve()
      released ??= auth.close()
      return released
    },
  }
}

/**
 * For a client made of several pools (an ORM's replicas): each pool takes a share when it is created and gives it back
 * when it ends; the handle is released once every share taken is back.
 */
export function sharedBy(handle: AuthHandle): { take(): () => Promise<void> } {
  let shares = 0
  return {
    take() {
      shares++
      let given = false
      return () => {
        if (given) return Promise.resolve()
        given = true
        shares--
        return shares === 0 ? handle.release() : Promise.resolve()
      }
    },
  }
}
