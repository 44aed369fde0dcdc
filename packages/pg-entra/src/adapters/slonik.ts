// Slonik 49 resolves its `password` function itself before each new pool connection and hands node-postgres what it
// got; pg calls a password *function* as `client.password()`, with its socket in hand. So the function given to
// Slonik answers Slonik with auth.password itself: pg then calls it on its socket, and the token leaves only through
// a verified socket (the wire check in auth.password), on every connection. Called by pg directly (Slonik's first,
// type-probing connection), it is auth.password. Slonik is never imported.
import type { EntraAuth } from '../auth/types.js'
import { passwordAnsweringPg } from './pg-password.js'

/**
 * `createPool(uri, { password: slonikPassword(auth), ssl })`: Slonik's `password` option. Typed as Slonik expects
 * (a string per connection); what reaches pg is auth.password, which pg calls with the socket the token goes to.
 */
export function slonikPassword(auth: EntraAuth): () => Promise<string> {
  // Slonik puts what it gets into pg's config as `password`
  return passwordAnsweringPg(auth, auth.password)
}
