// What crosses the control API. Principals travel with their secret (the control API is the way another process
// gets it); on arrival the secret is hidden again from inspect/JSON.
import { withHiddenSecret } from '../directory/index.js'
import type { Principal } from '../directory/types.js'
import type { Knobs } from '../knobs/index.js'
import type { EmulatorDescription } from '../types.js'

export type WirePrincipal = Principal & { secret?: string }

export interface WireDescription extends Omit<EmulatorDescription, 'pg'> {
  pg: EmulatorDescription['pg']
  principals: WirePrincipal[]
  knobs: Knobs
}

export function principalToWire(principal: Principal): WirePrincipal {
  return { ...principal, ...(principal.secret === undefined ? {} : { secret: principal.secret }) }
}

export function principalFromWire(wire: WirePrincipal): Principal {
  const { secret, ...rest } = wire
  return withHiddenSecret(rest, secret)
}

export interface WireError {
  error: { code: string; message: string; hint: string }
}
