// `@tmb/core/profile`: the signed message of a telemetry profile (docs/profile.md).
export { PROFILE_SIGNING_DOMAIN, profileSigningMessage } from './message.ts';
