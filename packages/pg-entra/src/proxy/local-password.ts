import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (value: Buffer | string) => createHash('sha256').update(value).digest()

/** Compares a password a client sent with the proxy's local password in constant time (lengths included). */
export function matchesLocalPassword(given: Buffer, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected))
}
