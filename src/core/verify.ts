/**
 * The engine: one address in, one verdict out.
 *
 *   parse address -> find mail hosts -> for each address of each host:
 *   check target safety -> probe -> stop at the first authoritative answer.
 *
 * It imports only the core and node builtins; DNS, sockets and randomness
 * are injected. It never logs and never throws for anything a remote party
 * can cause: every such path ends in a Verdict.
 */
import { randomBytes } from 'node:crypto';
import { parseMailbox, type Mailbox } from './address.js';
import { findMailHosts, type AddressFamily, type MailHost, type MailRoute } from './dns/mail-hosts.js';
import type { DnsResolver } from './dns/resolver.js';
import type { Connector } from './smtp/connector.js';
import { Probe, type HostOutcome, type ProbeOptions } from './smtp/probe.js';
import { TargetPolicy } from './target-safety.js';
import {
  REASON_MEANING,
  type EngineReason,
  type MxTarget,
  type Stage,
  type TranscriptLine,
  type Verdict,
} from './verdict.js';

export interface EngineOptions {
  probe: ProbeOptions;
  /** Deadline for all DNS work of one verification. */
  dnsTimeoutMs: number;
  maxMxHosts: number;
  /** Most addresses (across all MX hosts) a verification will try to connect to. */
  maxAddresses: number;
  /** Most SMTP sessions (successful connections) per verification, as Postfix's smtp_mx_session_limit. */
  maxSessions: number;
  addressFamilies: readonly AddressFamily[];
  /** Overall budget for one verification, DNS included. */
  budgetMs: number;
  /** CIDRs that may be connected to although special-purpose (loopback for tests, a lab network). */
  allowTargets: readonly string[];
}

/**
 * Asked before each connection with the exact IP. Returns a release function
 * (called once the session is closed) or null to refuse: the service uses it
 * for per-MX-address concurrency and rate limits.
 */
export interface ConnectGate {
  acquire(ip: string, signal: AbortSignal): Promise<(() => void) | null>;
}

export interface EngineDeps {
  resolver: DnsResolver;
  connector: Connector;
  gate?: ConnectGate;
  random?: () => number;
  randomLocalPart?: () => string;
}

export interface VerifyOptions {
  signal?: AbortSignal;
  /** Include the SMTP transcript in the verdict. */
  transcript?: boolean;
  /** Resolve only after RSET/QUIT completed (so the transcript includes them). */
  waitForClose?: boolean;
}

/** One attempt at one address of one MX, kept in the verdict so operators and statistics see every step. */
export interface Attempt {
  host: string;
  ip: string;
  reason: EngineReason;
  rule: string;
  stage: Stage | null;
}

export interface EngineVerdict extends Verdict {
  attempts: Attempt[];
}

/** An unguessable local part for the catch-all probe: 80 random bits, lower-case letters and digits. */
export function defaultRandomLocalPart(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return Array.from(randomBytes(16), (b) => alphabet[b & 31]).join('');
}

/** When no host gave an authoritative answer, report the most informative failure. */
function gateRefusal(target: MxTarget): HostOutcome {
  return {
    kind: 'next',
    reason: 'rate_limited',
    rule: 'local.rate-limited-mx',
    message: `per-host callout limit reached for ${target.host} [${target.ip}]`,
    reply: null,
    catchAllProbe: null,
    stage: 'connect',
    closed: Promise.resolve(),
    transcript: [],
  };
}

/** Outcomes of a connection that never opened a session (smtp_mx_session_limit counts sessions). */
const NO_SESSION_RULES = new Set(['local.connect-failed', 'local.timeout.connect', 'local.own-fault']);

const FAILURE_RANK: Partial<Record<EngineReason, number>> = {
  policy_rejected: 7,
  greylisted: 7,
  temporary_failure: 6,
  rate_limited: 5,
  protocol_error: 4,
  timeout: 3,
  connection_failed: 2,
  unsafe_target: 1,
};

export class VerificationEngine {
  private readonly probe: Probe;
  private readonly targets: TargetPolicy;
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly options: EngineOptions,
    private readonly deps: EngineDeps,
  ) {
    this.probe = new Probe(deps.connector, options.probe);
    this.targets = new TargetPolicy(options.allowTargets);
  }

  /** Resolves when every background RSET/QUIT has finished. */
  async idle(): Promise<void> {
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  async verify(input: string, opts: VerifyOptions = {}): Promise<EngineVerdict> {
    const startedAt = Date.now();
    const parsed = parseMailbox(input);
    if (!parsed.ok) {
      return this.verdict({
        address: input,
        domain: '',
        startedAt,
        reason: 'invalid_syntax',
        rule: 'local.invalid-syntax',
        message: parsed.error,
      });
    }
    const mailbox = parsed.mailbox;
    const budget = AbortSignal.timeout(this.options.budgetMs);
    const signal = opts.signal ? AbortSignal.any([budget, opts.signal]) : budget;
    const base = { address: mailbox.address, domain: mailbox.domain, startedAt };
    const route = await this.route(mailbox, signal, opts.signal);
    if (route.kind === 'verdict')
      return this.verdict({ ...base, reason: route.reason, rule: route.rule, message: route.message });
    return this.callout(mailbox, route.hosts, signal, opts, startedAt);
  }

  /** The mail hosts, or the verdict that ends here. `cancel` is the caller's own signal. */
  private async route(mailbox: Mailbox, signal: AbortSignal, cancel?: AbortSignal): Promise<MailRoute> {
    if (mailbox.literalIp) {
      return {
        kind: 'hosts',
        hosts: [{ host: mailbox.literalIp, preference: 0, addresses: [mailbox.literalIp] }],
        implicit: true,
        notes: [],
      };
    }
    const ms = Math.min(this.options.dnsTimeoutMs, this.options.budgetMs);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<MailRoute>((resolve) => {
      // Cancelled by the caller (a shutdown) is about us, not the domain's DNS: local.aborted,
      // as the same cancellation is during the SMTP dialogue, so that nobody caches it.
      const expire = (): void =>
        resolve(
          cancel?.aborted
            ? {
                kind: 'verdict',
                reason: 'timeout',
                rule: 'local.aborted',
                message: `verification cancelled during the DNS lookups for ${mailbox.domain}`,
              }
            : {
                kind: 'verdict',
                reason: 'dns_error',
                rule: 'local.timeout.dns',
                message: `DNS lookups for ${mailbox.domain} did not finish within the dns deadline of ${ms} ms`,
              },
        );
      timer = setTimeout(expire, ms);
      timer.unref();
      if (signal.aborted) expire();
      else signal.addEventListener('abort', expire, { once: true });
    });
    const lookup = findMailHosts(this.deps.resolver, mailbox.domain, {
      maxMxHosts: this.options.maxMxHosts,
      addressFamilies: this.options.addressFamilies,
      random: this.deps.random ?? Math.random,
    });
    try {
      return await Promise.race([lookup, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async callout(
    mailbox: Mailbox,
    hosts: MailHost[],
    signal: AbortSignal,
    opts: VerifyOptions,
    startedAt: number,
  ): Promise<EngineVerdict> {
    const targets: MxTarget[] = hosts
      .flatMap((h) => h.addresses.map((ip) => ({ host: h.host, ip, preference: h.preference })))
      .slice(0, this.options.maxAddresses);
    const attempts: Attempt[] = [];
    // Per-session transcripts by reference: RSET/QUIT lines still arrive after the decision.
    const transcript: TranscriptLine[][] = [];
    const failures: { outcome: HostOutcome; target: MxTarget }[] = [];
    const randomLocalPart = (this.deps.randomLocalPart ?? defaultRandomLocalPart)();
    const closes: Promise<void>[] = [];
    let sessions = 0;
    let decided: { outcome: HostOutcome; target: MxTarget } | null = null;

    for (const target of targets) {
      if (sessions >= this.options.maxSessions) break;
      const safety = this.targets.check(target.ip);
      if (!safety.safe) {
        attempts.push({
          host: target.host,
          ip: target.ip,
          reason: 'unsafe_target',
          rule: 'local.unsafe-target',
          stage: null,
        });
        transcript.push([
          {
            t: Date.now() - startedAt,
            dir: '*',
            line: `refused to connect to ${target.host} [${target.ip}]: ${safety.range} address`,
          },
        ]);
        continue;
      }
      const release = this.deps.gate ? await this.deps.gate.acquire(target.ip, signal) : () => undefined;
      if (!release) {
        attempts.push({
          host: target.host,
          ip: target.ip,
          reason: 'rate_limited',
          rule: 'local.rate-limited-mx',
          stage: null,
        });
        transcript.push([
          {
            t: Date.now() - startedAt,
            dir: '*',
            line: `not connecting to ${target.host} [${target.ip}]: per-host limit reached`,
          },
        ]);
        failures.push({ outcome: gateRefusal(target), target });
        continue;
      }
      const request = {
        target,
        mailbox,
        randomLocalPart,
        signal,
        startedAt,
        budgetMs: this.options.budgetMs,
      };
      let outcome = await this.probe.probeHost(request);
      if (outcome.kind === 'retry_plain') {
        this.track(outcome.closed, closes);
        transcript.push(outcome.transcript);
        outcome = await this.probe.probeHost({ ...request, plainOnly: true });
      }
      void outcome.closed.then(release);
      this.track(outcome.closed, closes);
      transcript.push(outcome.transcript);
      if (!NO_SESSION_RULES.has(outcome.rule)) sessions++;
      attempts.push({
        host: target.host,
        ip: target.ip,
        reason: outcome.reason,
        rule: outcome.rule,
        stage: outcome.stage,
      });
      if (outcome.kind === 'final') {
        decided = { outcome, target };
        break;
      }
      failures.push({ outcome, target });
    }
    if (opts.waitForClose) await Promise.all(closes);
    const chosen = decided ?? this.mostInformative(failures);
    const extra = { attempts, ...(opts.transcript ? { transcript: transcript.flat() } : {}) };
    if (!chosen) {
      const message =
        targets.length === 0
          ? 'no address to try'
          : 'every mail host address is in a refused range (see attempts)';
      return {
        ...this.verdict({
          address: mailbox.address,
          domain: mailbox.domain,
          startedAt,
          reason: 'unsafe_target',
          rule: 'local.unsafe-target',
          message,
        }),
        ...extra,
      };
    }
    const { outcome, target } = chosen;
    return {
      ...this.verdict({
        address: mailbox.address,
        domain: mailbox.domain,
        startedAt,
        reason: outcome.reason,
        rule: outcome.rule,
        message: outcome.message,
      }),
      mx: target,
      smtp: outcome.reply,
      catchAllProbe: outcome.catchAllProbe,
      ...extra,
    };
  }

  private mostInformative(
    failures: { outcome: HostOutcome; target: MxTarget }[],
  ): { outcome: HostOutcome; target: MxTarget } | null {
    let best: (typeof failures)[number] | null = null;
    for (const f of failures) {
      if (!best || (FAILURE_RANK[f.outcome.reason] ?? 0) > (FAILURE_RANK[best.outcome.reason] ?? 0)) best = f;
    }
    return best;
  }

  private track(closed: Promise<void>, closes: Promise<void>[]): void {
    closes.push(closed);
    this.closing.add(closed);
    void closed.finally(() => this.closing.delete(closed));
  }

  private verdict(v: {
    address: string;
    domain: string;
    startedAt: number;
    reason: EngineReason;
    rule: string;
    message: string;
  }): EngineVerdict {
    const meaning = REASON_MEANING[v.reason];
    return {
      address: v.address,
      domain: v.domain,
      result: meaning.result,
      reason: v.reason,
      temporary: meaning.temporary,
      rule: v.rule,
      message: v.message,
      mx: null,
      smtp: null,
      catchAllProbe: null,
      durationMs: Date.now() - v.startedAt,
      attempts: [],
    };
  }
}
