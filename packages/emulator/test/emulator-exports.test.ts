// The package root is a promise: this list changes only on purpose.
import { expect, it } from 'vitest'
import * as root from '../src/index.js'

it('exports startEmulator, connectEmulator and the error helpers, nothing else', () => {
  expect(Object.keys(root).sort()).toEqual(['EmulatorError', 'connectEmulator', 'isEmulatorError', 'startEmulator'])
})

it('isEmulatorError recognises the emulator errors by name and code', () => {
  const error = new root.EmulatorError('PRINCIPAL_NOT_FOUND', 'no principal named "x"', 'known: a')
  expect(root.isEmulatorError(error)).toBe(true)
  expect(error).toMatchObject({ code: 'PRINCIPAL_NOT_FOUND', hint: 'known: a' })
  expect(root.isEmulatorError(new Error('x'))).toBe(false)
})
