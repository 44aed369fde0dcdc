// Checks a cleartext password against the verifier PostgreSQL stored in pg_authid.rolpassword, as PostgreSQL's own
// password authentication does, so that roles without an Entra mapping keep working through the front.
import { createHash, createHmac, pbkdf2, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const pbkdf2Async = promisify(pbkdf2)
const SCRAM = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/

export async function verifyPassword(verifier: string, role: string, password: string): Promise<boolean> {
  const scram = SCRAM.exec(verifier)
  if (scram) {
    const [, iterations, salt, storedKey] = scram
    // PostgreSQL applies SASLprep; for ASCII it is the identity, otherwise NFKC is the part that matters.
    for (const candidate of new Set([password, password.normalize('NFKC')])) {
      if (await scramMatches(candidate, Buffer.from(salt!, 'base64'), Number(iterations), storedKey!)) return true
    }
    return false
  }
  if (/^md5[0-9a-f]{32}$/.test(verifier)) {
    const hash = `md5${createHash('md5')
      .update(password + role)
      .digest('hex')}`
    return constantTimeEqual(Buffer.from(hash), Buffer.from(verifier))
  }
  return false
}

async function scramMatches(password: string, salt: Buffer, iterations: number, storedKey: string): Promise<boolean> {
  const salted = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const computed = createHash('sha256').update(clientKey).digest()
  return constantTimeEqual(computed, Buffer.from(storedKey, 'base64'))
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}
