import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { PgEntraError } from '../errors/pg-entra-error.js'

/**
 * A 256-bit key: 32 bytes, or a string holding them as 64 hex digits or base64 (`openssl rand -base64 32`).
 * An array seals with the first key and opens with any of them, so that a key can be rotated without a miss storm.
 */
export type EncryptionKey = string | Uint8Array

export interface TokenCipher {
  /** AES-256-GCM; `context` (the store key) is authenticated, so a value copied under another key fails to open. */
  seal(plaintext: string, context: string): string
  /** The plaintext, or undefined when no key opens `sealed` (wrong key, tampered or not sealed at all). */
  open(sealed: string, context: string): string | undefined
}

const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_HINT = 'give 32 random bytes, e.g. the output of: openssl rand -base64 32'

export function createTokenCipher(keys: EncryptionKey | readonly EncryptionKey[]): TokenCipher {
  const list = (Array.isArray(keys) ? keys : [keys]).map(parseKey)
  const sealKey = list[0]
  if (sealKey === undefined)
    throw new PgEntraError('INVALID_OPTION', 'encryptionKey is an empty list', { hint: KEY_HINT })
  return {
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', sealKey, iv)
      cipher.setAAD(Buffer.from(context, 'utf8'))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`
    },
    open(sealed, context) {
      if (!sealed.startsWith(`${VERSION}.`)) return undefined
      const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64')
      if (raw.length < IV_BYTES + TAG_BYTES) return undefined
      const iv = raw.subarray(0, IV_BYTES)
      const tag = raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES)
      const body = raw.subarray(IV_BYTES + TAG_BYTES)
      for (const key of list) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', key, iv)
          decipher.setAAD(Buffer.from(context, 'utf8'))
          decipher.setAuthTag(tag)
          return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')
        } catch {
          // authentication failed with this key: try the next one
        }
      }
      return undefined
    },
  }
}

function parseKey(key: EncryptionKey): Buffer {
  const bytes = typeof key === 'string' ? decodeKeyString(key.trim()) : Buffer.from(key)
  if (bytes?.length !== 32) {
    throw new PgEntraError('INVALID_OPTION', 'encryptionKey must be 32 bytes (256 bits)', {
      hint: KEY_HINT,
      details: { bytes: bytes?.length ?? 0 },
    })
  }
  return bytes
}

function decodeKeyString(text: string): Buffer | undefined {
  if (/^[0-9a-f]{64}$/i.test(text)) return Buffer.from(text, 'hex')
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return Buffer.from(text, 'base64')
  return undefined
}
