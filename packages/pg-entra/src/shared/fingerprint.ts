import { createHash } from 'node:crypto'

/** A short, stable name for a token or secret that is safe to log: the first 12 hex digits of its SHA-256. */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 12)
}
