// Module resolution hooks registered by prefer-package.mjs.
import { appendFileSync } from 'node:fs'

let prefer

export function initialize(data) {
  prefer = data
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier !== prefer.specifier && !specifier.startsWith(`${prefer.specifier}/`)) {
    return nextResolve(specifier, context)
  }
  const resolved = await nextResolve(specifier, { ...context, parentURL: prefer.parentURL })
  if (prefer.log) appendFileSync(prefer.log, `${specifier} ${resolved.url}\n`)
  return resolved
}
