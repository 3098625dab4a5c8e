/**
 * Stable event codes: every log line carries one in `event`. Operators alert
 * and grep on these, so they never change meaning; docs/events.md lists them
 * and a unit test keeps the list and the doc in step.
 */
export const EVENTS = {
  serviceStarting: 'service.starting',
  serviceReady: 'service.ready',
  serviceStopping: 'service.stopping',
  serviceStopped: 'service.stopped',
  configInvalid: 'config.invalid',
  heloNotQualified: 'config.helo_not_qualified',
  cacheOpenFailed: 'cache.open_failed',
  cacheSwept: 'cache.swept',
  frontendListening: 'frontend.listening',
  frontendError: 'frontend.error',
  verifyResult: 'verify.result',
  calloutDone: 'callout.done',
  limitRefused: 'limit.refused',
  floodTripped: 'flood.tripped',
  floodTrickle: 'flood.trickle',
  floodEnded: 'flood.ended',
  floodDeferred: 'flood.deferred',
  backgroundError: 'background.error',
  policyRequest: 'policy.request',
  policyMalformed: 'policy.malformed',
  policyLimitExceeded: 'policy.limit_exceeded',
  policyConnectionEvicted: 'policy.connection_evicted',
  policyBackpressure: 'policy.backpressure',
  policyFailSafe: 'policy.fail_safe',
  httpRequest: 'http.request',
  httpAuthFailed: 'http.auth_failed',
  httpRefused: 'http.refused',
  internalError: 'internal.error',
  // Fleet mode (issue 11).
  redisDown: 'redis.down',
  redisUp: 'redis.up',
} as const;

export type EventCode = (typeof EVENTS)[keyof typeof EVENTS];
