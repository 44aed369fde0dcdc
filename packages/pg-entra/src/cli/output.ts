import { isPgEntraError } from '../errors/pg-entra-error.js'

export interface Writable {
  write(chunk: string): unknown
  isTTY?: boolean
}

export interface OutputStreams {
  stdout: Writable
  stderr: Writable
  env: Record<string, string | undefined>
}

type Paint = (text: string) => string

export interface Palette {
  green: Paint
  red: Paint
  yellow: Paint
  dim: Paint
  bold: Paint
}

const plain: Paint = (text) => text
const sgr =
  (open: number, close: number): Paint =>
  (text) =>
    `\u001b[${open}m${text}\u001b[${close}m`

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org); FORCE_COLOR forces it. */
export function colourEnabled(stream: Writable, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR) return false
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true
  return stream.isTTY === true && env.TERM !== 'dumb'
}

export function palette(enabled: boolean): Palette {
  if (!enabled) return { green: plain, red: plain, yellow: plain, dim: plain, bold: plain }
  return { green: sgr(32, 39), red: sgr(31, 39), yellow: sgr(33, 39), dim: sgr(2, 22), bold: sgr(1, 22) }
}

export class Output {
  readonly out: Palette
  readonly err: Palette

  constructor(readonly streams: OutputStreams) {
    this.out = palette(colourEnabled(streams.stdout, streams.env))
    this.err = palette(colourEnabled(streams.stderr, streams.env))
  }

  line(text = ''): void {
    this.streams.stdout.write(`${text}\n`)
  }

  json(value: unknown): void {
    this.streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  warn(text: string): void {
    this.streams.stderr.write(`${this.err.yellow('warning:')} ${text}\n`)
  }

  /** A PgEntraError as `code: message` and `hint: ...`; anything else by its message only. Never a stack. */
  /** `hint: text` on stderr, as after an error: what to do next. */
  hint(text: string): void {
    this.streams.stderr.write(`${this.err.dim('hint:')} ${text}\n`)
  }

  error(error: unknown): void {
    const { red, dim } = this.err
    if (isPgEntraError(error)) {
      this.streams.stderr.write(`${red(`${error.code}:`)} ${error.message}\n`)
      if (error.hint) this.streams.stderr.write(`${dim('hint:')} ${error.hint}\n`)
      return
    }
    const message = error instanceof Error ? error.message : String(error)
    this.streams.stderr.write(`${red('error:')} ${message}\n`)
  }
}

/** `{ code, message, hint }` for --json output of a failure. */
export function errorJson(error: unknown): { code: string; message: string; hint?: string } {
  if (isPgEntraError(error)) {
    return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) }
  }
  return { code: 'UNEXPECTED', message: error instanceof Error ? error.message : String(error) }
}

export function formatTime(timestamp: number | undefined): string {
  return timestamp === undefined ? 'unknown' : new Date(timestamp).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000)
  if (Math.abs(seconds) < 120) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  if (Math.abs(minutes) < 120) return `${minutes} min`
  return `${(minutes / 60).toFixed(1)} h`
}
