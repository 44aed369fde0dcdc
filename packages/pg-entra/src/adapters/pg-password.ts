// For clients that call their `password` function themselves and hand node-postgres the result (MikroORM 6 via Knex,
// Slonik): pg accepts a password function and calls it as `client.password()` with its socket in hand. One function
// serves both callers: pg gets the token through auth.password (its socket checked), the client gets what it must pass
// on to pg so that pg calls auth.password itself.
import type { EntraAuth } from '../auth/types.js'
import { pgCallerOf } from '../tls/pg-caller.js'

/** A password function typed as clients expect (resolving to a string); any caller but pg gets `forTheClient`. */
export function passwordAnsweringPg(auth: EntraAuth, forTheClient: unknown): () => Promise<string> {
  return async function password(this: unknown): Promise<string> {
    if (pgCallerOf(this)) return auth.password.call(this)
    return forTheClient as string
  }
}
