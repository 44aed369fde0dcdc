/** Where to connect and how, as discrete fields (never a string pg would re-parse over a password function). */
export interface ConnectionFields {
  host?: string
  port?: number
  database?: string
  user?: string
  password?: string
  applicationName?: string
  /** libpq sslmode, verbatim: disable, allow, prefer, require, verify-ca, verify-full (pg also knows no-verify). */
  sslmode?: string
  /** A file path, or 'system' for the default store. */
  sslrootcert?: string
  sslcert?: string
  sslkey?: string
  /** `uselibpqcompat=true`: sslmode means what libpq says (require does not verify). */
  libpqCompat?: boolean
  options?: string
  connectTimeoutSeconds?: number
}

/** A TCP port (1–65535) from a number or decimal text (surrounding blanks allowed), else undefined. */
export function asPort(value: unknown): number | undefined {
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
  return Number.isInteger(n) && n >= 1 && n <= 65_535 ? n : undefined
}
