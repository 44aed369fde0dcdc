// `node --import tools/test/prefer-package.mjs`: resolves one package (PREFER_PACKAGE, e.g. @azure/identity) as if it
// were imported from PREFER_PACKAGE_FROM (a directory), whoever imports it, and records each resolution in
// PREFER_PACKAGE_LOG. The suite uses it to run pg-entra's own credential code on the newer @azure/identity that
// examples-current installs (npm keeps the root's copy for Node 20), as an application on Node >= 22 gets it.
import { register } from 'node:module'
import { pathToFileURL } from 'node:url'

const specifier = process.env.PREFER_PACKAGE
const from = process.env.PREFER_PACKAGE_FROM
if (specifier && from) {
  register('./prefer-package-hooks.mjs', import.meta.url, {
    data: {
      specifier,
      parentURL: pathToFileURL(`${from.replace(/\/$/, '')}/`).href,
      log: process.env.PREFER_PACKAGE_LOG,
    },
  })
}
