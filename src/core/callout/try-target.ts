/**
 * Stage 2 of a callout: try one mail host for the addresses still open.
 *
 * Sessions follow one another at this host while it keeps answering: each
 * carries at most max_rcpt_per_session RCPTs (the catch-all probe included),
 * and what one session taught shapes the next (the catch-all answer is not
 * asked twice; a punished probe is dropped; a cut-short pipelined session is
 * asked again one command at a time; "too many recipients" gives fewer per
 * transaction). A session that answers nothing moves the addresses on to
 * the next host. Every address is bounded by the session limit, as if it
 * were verified alone.
 */
import type { ConnectGate } from '../verify.js';
import type { Decision } from '../smtp/decision.js';
import { decisionForError, next } from '../smtp/decision.js';
import type { Probe, SessionOutcome } from '../smtp/probe.js';
import type { MxTarget, TranscriptLine } from '../verdict.js';
import { attemptOf, newHostState, type AddressState, type HostState } from './batch.js';

export interface CalloutContext {
  probe: Probe;
  gate: ConnectGate | undefined;
  maxSessions: number;
  maxRcptPerSession: number;
  randomProbe: 'first' | 'last';
  domain: string;
  randomLocalPart: string;
  signal: AbortSignal;
  startedAt: number;
  budgetMs: number;
  /** Record the sessions' transcripts (asked for by the caller; otherwise not kept at all). */
  transcript: boolean;
  /** Per-session transcripts, by reference: RSET/QUIT lines may still arrive after the decision. */
  transcripts: TranscriptLine[][];
  closes: Promise<void>[];
  track(closed: Promise<void>): void;
  /** Some host of this callout ended the session after refusing the random probe. */
  probePunished: boolean;
}

/** 'stop' when the budget ran out or the caller cancelled: no host is worth trying after that. */
export async function tryTarget(
  ctx: CalloutContext,
  target: MxTarget,
  addresses: readonly AddressState[],
): Promise<'next' | 'stop'> {
  const host = newHostState({ randomProbe: ctx.randomProbe });
  for (;;) {
    const open = addresses.filter((a) => !a.decided && !a.skipHost && a.sessionsUsed < ctx.maxSessions);
    if (open.length === 0) return 'next';
    const probe = ctx.probe.options.catchAllTest && host.catchAll === null && !host.probePunished;
    const group = open.slice(0, Math.max(1, ctx.maxRcptPerSession - (probe ? 1 : 0)));
    let release: (() => void) | null;
    try {
      release = ctx.gate
        ? await ctx.gate.acquire(target.ip, ctx.signal, target.host, ctx.domain)
        : () => undefined;
    } catch (error) {
      // A fault in the limits is ours, not the host's: temporary, and no connection.
      const fault = decisionForError(error, 'connect');
      for (const a of open) {
        a.attempts.push(attemptOf(target, fault, 'connect'));
        a.failures.push({ decision: fault, target });
      }
      return 'next';
    }
    if (!release) {
      refusedByGate(ctx, target, open);
      return 'next';
    }
    const outcome = await ctx.probe.session({
      target,
      domain: ctx.domain,
      mailboxes: group.map((a) => a.mailbox),
      probe,
      knownCatchAll: host.catchAll,
      lockstep: host.lockstep,
      perTransaction: host.perTransaction,
      randomLocalPart: ctx.randomLocalPart,
      signal: ctx.signal,
      startedAt: ctx.startedAt,
      budgetMs: ctx.budgetMs,
      plainOnly: host.plainOnly,
      transcript: ctx.transcript,
    });
    void outcome.closed.then(release);
    ctx.track(outcome.closed);
    ctx.transcripts.push(outcome.transcript);
    const failure = outcome.failure;
    if (failure?.kind === 'retry_plain' && !host.plainOnly) {
      host.plainOnly = true;
      continue;
    }
    if (failure) {
      for (const a of group) {
        a.attempts.push(attemptOf(target, failure, outcome.stage));
        if (outcome.connected) a.sessionsUsed++;
      }
      if (failure.kind === 'final') {
        // The budget ran out or the caller cancelled: every open address ends here.
        for (const a of open) a.decided = { decision: failure, target };
        return 'stop';
      }
      for (const a of group) a.failures.push({ decision: failure, target });
      return 'next';
    }
    learn(ctx, host, outcome);
    group.forEach((a, i) => {
      if (outcome.asked[i]) record(a, target, outcome.answers[i] ?? null, outcome);
    });
  }
}

function learn(ctx: CalloutContext, host: HostState, outcome: SessionOutcome): void {
  if (outcome.catchAll !== null) host.catchAll = outcome.catchAll;
  if (outcome.probePunished) {
    host.probePunished = true;
    ctx.probePunished = true;
  }
  if (outcome.retryHere) host.lockstep = true;
  if (outcome.recipientLimit !== null)
    host.perTransaction = Math.min(host.perTransaction ?? outcome.recipientLimit, outcome.recipientLimit);
}

function record(a: AddressState, target: MxTarget, answer: Decision | null, outcome: SessionOutcome): void {
  if (answer?.kind === 'final') {
    a.decided = { decision: answer, target };
    a.attempts.push(attemptOf(target, answer, null));
    return;
  }
  const why = answer ?? unanswered(outcome);
  a.attempts.push(attemptOf(target, why, outcome.stage));
  a.failures.push({ decision: why, target });
  if (!answer) a.sessionsUsed++;
  // Ask this host again only when it is worth it: the session was killed, or it takes fewer per transaction.
  if (answer || (!outcome.retryHere && outcome.recipientLimit === null)) a.skipHost = true;
}

/** Why a session that answered other addresses (or the probe) left this one unanswered. */
function unanswered(outcome: SessionOutcome): Decision {
  if (outcome.recipientLimit !== null)
    return {
      ...next(
        'temporary_failure',
        'local.too-many-recipients',
        'the server took fewer recipients per transaction than were sent',
        null,
      ),
      stage: 'rcpt',
    };
  const after = outcome.probePunished ? ', after it refused the random local part' : '';
  if (outcome.unanswered)
    return {
      ...outcome.unanswered,
      message: `${outcome.unanswered.message} (before answering this address${after})`,
    };
  return {
    ...next(
      'connection_failed',
      'local.connection-lost',
      `the server ended the session before answering this address${after}`,
      null,
    ),
    stage: 'rcpt',
  };
}

function refusedByGate(ctx: CalloutContext, target: MxTarget, open: readonly AddressState[]): void {
  const decision: Decision = {
    ...next(
      'rate_limited',
      'local.rate-limited-mx',
      `per-host callout limit reached for ${target.host} [${target.ip}]`,
      null,
    ),
    stage: 'connect',
  };
  ctx.transcripts.push([
    {
      t: Date.now() - ctx.startedAt,
      dir: '*',
      line: `not connecting to ${target.host} [${target.ip}]: per-host limit reached`,
    },
  ]);
  for (const a of open) {
    a.attempts.push({
      host: target.host,
      ip: target.ip,
      reason: 'rate_limited',
      rule: decision.rule,
      stage: null,
    });
    a.failures.push({ decision, target });
  }
}
