/** The core's public surface: what the service and front-ends may use. */
export {
  isNullPath,
  isSingleLabel,
  parseMailbox,
  parseMailDomain,
  toALabels,
  MAX_PATH_OCTETS,
  type Mailbox,
  type ParseFailure,
  type ParseOptions,
  type ParseResult,
} from './address.js';
export { NodeDnsResolver, type DnsResolver, type NodeDnsOptions } from './dns/resolver.js';
export { FixedMxResolver } from './dns/fixed-mx-resolver.js';
export { TcpConnector, type Connector } from './smtp/connector.js';
export { TicketStalls, heldBehindTicket, ticketWaitMs, type TicketTiming } from './smtp/ticket-stall.js';
export {
  RULES,
  RULES_VERSION,
  SESSION_RULES,
  NULL_SENDER_EVIDENCE,
  isAboutUs,
  isAboutHelo,
  type ReplyRule,
  type SessionRule,
} from './classify/rules.js';
export { escapeJsonText, isPrintable, printable, safeJson, terminalSafe } from './printable.js';
export { CidrList, TargetPolicy, isValidCidr, parseCidr } from './target-safety.js';
export {
  VerificationEngine,
  type EngineOptions,
  type EngineDeps,
  type EngineVerdict,
  type Attempt,
  type VerifyOptions,
  type ConnectGate,
} from './verify.js';
export {
  ENGINE_REASONS,
  REASON_MEANING,
  type EngineReason,
  type Result,
  type Stage,
  type Verdict,
  type TranscriptLine,
  type MxTarget,
  type DecidingReply,
} from './verdict.js';
