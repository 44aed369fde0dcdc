// SECURITY LABEL FOR "pgaadauth" ON ROLE r IS '...' as on Azure. Stock PostgreSQL has no "pgaadauth" label provider
// (it takes a C module), so the front rewrites such a simple-query statement into a DO block that calls
// pgaadauth.security_label(role, label): same effect, same transaction, same errors; the command tag reads DO.
// Every other message passes through untouched, chunks unchanged unless they hold a rewritten Query.

const QUERY = 0x51 // 'Q'
/** Queries longer than this are passed through unread: a label statement is short. */
const MAX_INSPECTED_QUERY = 64 * 1024

const LABEL =
  /^\s*security\s+label\s+for\s+(?:"pgaadauth"|pgaadauth)\s+on\s+role\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s+is\s+('(?:[^']|'')*'|null)\s*;?\s*$/i

/** The SQL that replaces a pgaadauth SECURITY LABEL statement, or undefined when `sql` is not one. */
export function rewriteSecurityLabel(sql: string): string | undefined {
  const match = LABEL.exec(sql)
  if (!match) return undefined
  const [, roleIdent, labelLiteral] = match as unknown as [string, string, string]
  const role = roleIdent.startsWith('"') ? roleIdent.slice(1, -1).replaceAll('""', '"') : roleIdent.toLowerCase()
  const roleLiteral = `'${role.replaceAll("'", "''")}'`
  const label = labelLiteral.toLowerCase() === 'null' ? 'null' : labelLiteral
  return `do $pgaadauth$ begin perform pgaadauth.security_label(${roleLiteral}, ${label}); end $pgaadauth$`
}

const SECURITY = Buffer.from('security')
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c])
const CASE_BIT = 0x20

/** Whether the query text at `start` begins with SECURITY (any case, after whitespace): no other query is decoded. */
function mayBeSecurityLabel(data: Buffer, start: number): boolean {
  let at = start
  while (at < data.length && WHITESPACE.has(data[at]!)) at++
  if (data.length - at < SECURITY.length) return false
  for (let i = 0; i < SECURITY.length; i++) if ((data[at + i]! | CASE_BIT) !== SECURITY[i]) return false
  return true
}

function queryMessage(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`, 'utf8')
  const head = Buffer.alloc(5)
  head[0] = QUERY
  head.writeUInt32BE(4 + body.length, 1)
  return Buffer.concat([head, body])
}

/**
 * Frames frontend messages; collects each short Query whole so that it can be rewritten. Synchronous on purpose:
 * a stream.Transform in the relay costs an event-loop turn per message (about 40% of pgbench's throughput).
 */
export class SecurityLabelRewriter {
  /** bytes of the current message still to pass through unread */
  private skipping = 0
  /** a partial header, or a Query being collected */
  private pending: Buffer = Buffer.alloc(0)

  /** What to send upstream for this chunk: the chunk itself unless it completes or holds a rewritten Query. */
  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = []
    let changed = false
    let offset = 0
    let data = chunk
    if (this.pending.length > 0) {
      data = Buffer.concat([this.pending, chunk])
      this.pending = Buffer.alloc(0)
      changed = true
    }
    let passFrom = 0
    while (offset < data.length) {
      if (this.skipping > 0) {
        const step = Math.min(this.skipping, data.length - offset)
        this.skipping -= step
        offset += step
        continue
      }
      if (data.length - offset < 5) {
        out.push(data.subarray(passFrom, offset))
        this.pending = Buffer.from(data.subarray(offset))
        passFrom = offset = data.length
        changed = true
        break
      }
      const type = data[offset]!
      const total = 1 + data.readUInt32BE(offset + 1)
      if (type !== QUERY || total > MAX_INSPECTED_QUERY) {
        this.skipping = total
        continue
      }
      if (data.length - offset < total) {
        out.push(data.subarray(passFrom, offset))
        this.pending = Buffer.from(data.subarray(offset))
        passFrom = offset = data.length
        changed = true
        break
      }
      const rewritten = mayBeSecurityLabel(data, offset + 5)
        ? rewriteSecurityLabel(data.toString('utf8', offset + 5, offset + total - 1))
        : undefined
      if (rewritten !== undefined) {
        out.push(data.subarray(passFrom, offset), queryMessage(rewritten))
        passFrom = offset + total
        changed = true
      }
      offset += total
    }
    if (!changed) return [chunk]
    out.push(data.subarray(passFrom, offset))
    return out.filter((part) => part.length > 0)
  }
}
