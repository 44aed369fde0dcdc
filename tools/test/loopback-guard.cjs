'use strict'
// Loopback guard: loaded into every test worker (vitest setupFiles) and, through NODE_OPTIONS=--require, into
// every child Node process a test starts. Any TCP connection, UDP send or DNS lookup that would leave the machine
// (anything but 127.0.0.0/8, ::1, localhost or a unix socket) fails at once with ERR_LOOPBACK_GUARD and a message
// naming the address. Each violation is also appended to $LOOPBACK_GUARD_LOG when set, so that an attempt a
// library swallows (MSAL's IMDS probe, say) still fails the run.
const net = require('node:net')
const dns = require('node:dns')
const dgram = require('node:dgram')
const fs = require('node:fs')

const INSTALLED = Symbol.for('pg-entra.loopback-guard')
if (!globalThis[INSTALLED]) {
  globalThis[INSTALLED] = { violations: [] }
  install()
}

function isLoopbackAddress(address) {
  const family = net.isIP(address)
  if (family === 4) return address.startsWith('127.')
  if (family === 6) {
    const lower = address.toLowerCase()
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true
    const mapped = lower.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/)
    return mapped ? mapped[1].startsWith('127.') : false
  }
  return false
}

function isLoopbackName(host) {
  const name = String(host).toLowerCase().replace(/\.$/, '')
  return name === 'localhost' || name.endsWith('.localhost')
}

function isAllowedHost(host) {
  if (host === undefined || host === null || host === '') return true // Node defaults to localhost
  const bare = String(host).replace(/^\[(.*)\]$/, '$1')
  return isLoopbackAddress(bare) || isLoopbackName(bare)
}

function violation(what, target) {
  const message = `loopback guard: ${what} to ${target} blocked: tests may only reach 127.0.0.0/8, ::1 or localhost`
  globalThis[INSTALLED].violations.push(message)
  const log = process.env.LOOPBACK_GUARD_LOG
  if (log) {
    try {
      fs.appendFileSync(log, `${message} (pid ${process.pid})\n`)
    } catch {}
  }
  const error = new Error(message)
  error.code = 'ERR_LOOPBACK_GUARD'
  return error
}

function connectTarget(args) {
  const first = args[0]
  if (Array.isArray(first)) return connectTarget(first) // net internals pass normalized [options, cb]
  if (first !== null && typeof first === 'object') {
    if (first.path) return null
    return { host: first.host, port: first.port }
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return null // a unix socket path
  return { host: typeof args[1] === 'string' ? args[1] : undefined, port: first }
}

function install() {
  const originalConnect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function guardedConnect(...args) {
    const target = connectTarget(args)
    if (target && !isAllowedHost(target.host)) {
      const error = violation('connection', `${target.host}:${target.port}`)
      process.nextTick(() => this.destroy(error))
      return this
    }
    return originalConnect.apply(this, args)
  }

  const originalSend = dgram.Socket.prototype.send
  dgram.Socket.prototype.send = function guardedSend(...args) {
    const address = args.find((a, i) => i > 0 && typeof a === 'string')
    if (address && !isAllowedHost(address)) throw violation('UDP datagram', address)
    return originalSend.apply(this, args)
  }

  const guardName = (what, host) => (isAllowedHost(host) ? null : violation(what, host))
  const originalLookup = dns.lookup
  dns.lookup = function guardedLookup(host, options, callback) {
    const error = guardName('DNS lookup', host)
    if (error) {
      const cb = typeof options === 'function' ? options : callback
      process.nextTick(() => cb(error))
      return {}
    }
    return originalLookup.call(this, host, options, callback)
  }
  const originalPromisesLookup = dns.promises.lookup
  dns.promises.lookup = async function guardedPromisesLookup(host, options) {
    const error = guardName('DNS lookup', host)
    if (error) throw error
    return originalPromisesLookup.call(this, host, options)
  }
  const resolvers = ['resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveSrv', 'resolveTxt']
  for (const name of resolvers) {
    for (const target of [dns, dns.Resolver.prototype]) {
      const original = target[name]
      if (typeof original !== 'function') continue
      target[name] = function guardedResolve(host, ...rest) {
        const error = violation('DNS query', host)
        const cb = rest[rest.length - 1]
        if (typeof cb === 'function') process.nextTick(() => cb(error))
        else throw error
      }
    }
    for (const target of [dns.promises, dns.promises.Resolver.prototype]) {
      if (typeof target[name] !== 'function') continue
      target[name] = async (host) => {
        throw violation('DNS query', host)
      }
    }
  }
}

module.exports = {
  isLoopbackAddress,
  violations: () => [...globalThis[INSTALLED].violations],
  clearViolations: () => {
    globalThis[INSTALLED].violations.length = 0
  },
}
