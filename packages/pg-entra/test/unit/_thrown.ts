import { isPgEntraError, type PgEntraError } from '../../src/errors/pg-entra-error.js'

/** The PgEntraError `fn` throws (or rejects with); fails the test when it does not. */
export function thrown(fn: () => unknown): PgEntraError {
  try {
    fn()
  } catch (error) {
    if (isPgEntraError(error)) return error
    throw error
  }
  throw new Error('expected a PgEntraError')
}

export async function rejected(promise: Promise<unknown>): Promise<PgEntraError> {
  try {
    await promise
  } catch (error) {
    if (isPgEntraError(error)) return error
    throw error
  }
  throw new Error('expected a PgEntraError')
}
