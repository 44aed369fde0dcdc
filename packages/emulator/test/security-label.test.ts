// The front's SECURITY LABEL rewriter sits in every session's client-to-upstream path: it must pass every other
// byte through unchanged however the stream is cut into chunks, and rewrite only a pgaadauth label statement.
import { describe, expect, it } from 'vitest'
import { rewriteSecurityLabel, SecurityLabelRewriter } from '../src/pg-front/security-label.js'
import { frontendMessage } from './wire-client.js'

const query = (sql: string) => frontendMessage('Q', Buffer.from(`${sql}\0`))
const LABEL = `SECURITY LABEL FOR "pgaadauth" ON ROLE "App Role" IS 'aadauth,oid=0b9e0f4c-0000-4000-8000-000000000001,type=service'`

describe('SecurityLabelRewriter', () => {
  it('rewrites a pgaadauth label into a DO block calling pgaadauth.security_label', () => {
    expect(rewriteSecurityLabel(LABEL)).toBe(
      `do $pgaadauth$ begin perform pgaadauth.security_label('App Role', 'aadauth,oid=0b9e0f4c-0000-4000-8000-000000000001,type=service'); end $pgaadauth$`,
    )
    expect(rewriteSecurityLabel('security label for pgaadauth on role app is null;')).toContain(
      "security_label('app', null)",
    )
    expect(rewriteSecurityLabel(`SECURITY LABEL FOR selinux ON ROLE app IS 'x'`)).toBeUndefined()
    expect(rewriteSecurityLabel(`${LABEL}; drop table t`)).toBeUndefined()
  })

  it('passes other messages through byte for byte, whatever the chunking, and rewrites the label in place', () => {
    const parse = frontendMessage('P', Buffer.from('\0select $1\0\0\0'))
    const big = query(`select '${'x'.repeat(70_000)}'`)
    const indented = `\n\t  ${LABEL.toLowerCase()}`
    const stream = Buffer.concat([
      query('select 1'),
      query('securit'),
      parse,
      big,
      query(LABEL),
      query(indented),
      frontendMessage('S', Buffer.alloc(0)),
    ])
    const expected = Buffer.concat([
      query('select 1'),
      query('securit'),
      parse,
      big,
      query(rewriteSecurityLabel(LABEL)!),
      query(rewriteSecurityLabel(indented)!),
      frontendMessage('S', Buffer.alloc(0)),
    ])
    for (const size of [1, 3, 7, 64, 4096, stream.length]) {
      const rewriter = new SecurityLabelRewriter()
      const out: Buffer[] = []
      for (let i = 0; i < stream.length; i += size) out.push(...rewriter.feed(stream.subarray(i, i + size)))
      expect(Buffer.concat(out).equals(expected)).toBe(true)
    }
  })
})
