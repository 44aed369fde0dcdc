import { parseArgs } from 'node:util'
import { EmulatorError } from '../env.js'

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>

/** node:util parseArgs, with its errors turned into a coded EmulatorError. */
export type ParsedArgs<T extends OptionSpec> = { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean }

export function parseCommandArgs<T extends OptionSpec>(args: string[], options: T, usage: string): ParsedArgs<T> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as ParsedArgs<T>
  } catch (e) {
    // parseArgs's three-line "argument is ambiguous" for a value that starts with "-", as one line that says what to do
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec((e as Error).message)
    if (ambiguous) {
      const option = ambiguous[1]!
      throw new EmulatorError(
        'BAD_ARGUMENTS',
        `${option} needs a value, and got an option instead`,
        `give the value after ${option}; see: ${usage}`,
      )
    }
    throw new EmulatorError(
      'BAD_ARGUMENTS',
      (e as Error).message.replace(/\. To specify a positional.*$/s, ''),
      `see: ${usage}`,
    )
  }
}

export function positiveInteger(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) {
    throw new EmulatorError(
      'BAD_ARGUMENTS',
      `${name} must be a positive whole number of seconds, got "${value}"`,
      `e.g. ${name} 600`,
    )
  }
  return n
}
