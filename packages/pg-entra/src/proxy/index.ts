export type { ProxyConnectionEvent, ProxyOptions, ProxyServerOptions } from './options.js'
export { type EntraProxy, startProxy } from './proxy.js'
