// Text a client or a server chose (user and database names, refusal reasons that quote them) made safe for one log
// line: control characters, line and paragraph separators and bidi overrides are written as escapes, so that no
// client can forge a line. pg-entra-emulator has the same rule in its own copy: neither package depends on the other.

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]/g

export function logSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === '\\') return '\\\\'
    if (c === '\n') return '\\n'
    if (c === '\r') return '\\r'
    if (c === '\t') return '\\t'
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}
