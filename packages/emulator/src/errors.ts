// The one error class users meet: a stable code, a message, a hint that says what to do; never a secret.
export class EmulatorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'EmulatorError'
  }
}

export function isEmulatorError(e: unknown): e is EmulatorError {
  return e instanceof Error && e.name === 'EmulatorError' && typeof (e as EmulatorError).code === 'string'
}
