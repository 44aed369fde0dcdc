export { connectEmulator } from './control/client.js'
export { startEmulator } from './emulator.js'
export { EmulatorError, isEmulatorError } from './errors.js'
export type {
  Counters,
  Emulator,
  EmulatorDescription,
  EmulatorKnobs,
  FailNextOptions,
  FailureMode,
  Knobs,
  MintOptions,
  PgBouncerOptions,
  PgEndpoint,
  Principal,
  PrincipalKind,
  PrincipalKnobs,
  PrincipalSpec,
  Profile,
  RemoteEmulator,
  RequestLogEntry,
  RoleSpec,
  StartEmulatorOptions,
} from './types.js'
