import { parseArgs } from 'node:util'
import { EmulatorError } from '../env.js'

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>

/** node:util parseArgs, with its errors turned into a coded EmulatorError. */
export type ParsedArgs<T extends OptionSpec> = { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean }

export function parseCommandArgs<T extends OptionSpec>(args: string[], options: T, usage: string): ParsedArgs<T> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as ParsedArgs<T>
  } catch (e) {
    throw new EmulatorError('BAD_ARGUMENTS', (e as Error).message, `see: ${usage}`)
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
