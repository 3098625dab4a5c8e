/**
 * The state of one callout for a batch of addresses of one domain: per
 * address, what it has been answered or why not yet; per mail host, what the
 * sessions with it taught (the catch-all answer, a punished probe, a limit on
 * recipients per transaction, no pipelining, no TLS).
 */
import type { Mailbox } from '../address.js';
import type { Decision } from '../smtp/decision.js';
import type { EngineReason, MxTarget, Stage } from '../verdict.js';

/** One attempt at one address of one MX, kept in the verdict so operators and statistics see every step. */
export interface Attempt {
  host: string;
  ip: string;
  reason: EngineReason;
  rule: string;
  stage: Stage | null;
}

export interface AddressState {
  mailbox: Mailbox;
  attempts: Attempt[];
  /** Why hosts gave no answer, most recent last. */
  failures: { decision: Decision; target: MxTarget }[];
  /** The authoritative answer, once there is one. */
  decided: { decision: Decision; target: MxTarget } | null;
  /** Sessions that left this address unanswered: bounded by the session limit, as if it were verified alone. */
  sessionsUsed: number;
  /** This host cannot answer this address (e.g. it lacks SMTPUTF8): try it at the next host. */
  skipHost: boolean;
}

/** What the sessions with one mail host taught the next session with it. */
export interface HostState {
  catchAll: boolean | null;
  probePunished: boolean;
  lockstep: boolean;
  perTransaction: number | null;
  plainOnly: boolean;
}

export function newAddressState(mailbox: Mailbox): AddressState {
  return { mailbox, attempts: [], failures: [], decided: null, sessionsUsed: 0, skipHost: false };
}

export function newHostState(hint: { randomProbe: 'first' | 'last' }): HostState {
  return {
    catchAll: null,
    probePunished: false,
    // An MX known to punish the random probe is asked about the addresses first,
    // one command at a time, so that whatever it does after the probe costs nothing.
    lockstep: hint.randomProbe === 'last',
    perTransaction: null,
    plainOnly: false,
  };
}

export function attemptOf(target: MxTarget, decision: Decision, stage: Stage | null): Attempt {
  return {
    host: target.host,
    ip: target.ip,
    reason: decision.reason,
    rule: decision.rule,
    stage: decision.stage ?? decision.reply?.stage ?? stage,
  };
}
