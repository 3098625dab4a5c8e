/**
 * The engine: addresses in, one verdict per address out.
 *
 *   parse -> group by domain -> find mail hosts (one MX walk per domain)
 *   -> callout: targets -> try one target at a time -> choose, per address.
 *
 * Several addresses of one domain share the MX walk and the SMTP sessions
 * (one catch-all probe per session, then each address's RCPT), so a batch
 * costs the remote host one connection where one verification each would
 * cost many. It imports only the core and node builtins; DNS, sockets and
 * randomness are injected. It never logs and never throws for anything a
 * remote party can cause: every such path ends in a Verdict.
 */
import { randomFillSync } from 'node:crypto';
import { parseMailbox, type Mailbox, type ParseResult } from './address.js';
import { Budget } from './budget.js';
import { newAddressState, type AddressState, type Attempt } from './callout/batch.js';
import { chooseAnswer } from './callout/choose.js';
import { refusedMessage, targetsOf, type TargetList } from './callout/targets.js';
import { tryTarget, type CalloutContext } from './callout/try-target.js';
import { findMailHosts, type AddressFamily, type MailHost, type MailRoute } from './dns/mail-hosts.js';
import { singleLabelRoute } from './dns/single-label.js';
import type { DnsResolver } from './dns/resolver.js';
import type { Connector } from './smtp/connector.js';
import { Probe, type ProbeOptions } from './smtp/probe.js';
import type { TicketStalls } from './smtp/ticket-stall.js';
import { TargetPolicy } from './target-safety.js';
import { REASON_MEANING, type EngineReason, type TranscriptLine, type Verdict } from './verdict.js';

export type { Attempt } from './callout/batch.js';

export interface EngineOptions {
  probe: ProbeOptions;
  /** Deadline for all DNS work of one verification. */
  dnsTimeoutMs: number;
  /** Most MX hosts with an address considered per domain (names that do not resolve are not counted). */
  maxMxHosts: number;
  /** Most addresses (across all MX hosts) a verification will try to connect to. */
  maxAddresses: number;
  /** Most SMTP sessions (successful connections) that may leave one address unanswered, as Postfix's smtp_mx_session_limit. */
  maxSessions: number;
  /** Most RCPT commands in one SMTP session, the catch-all probe included (below Postfix's smtpd_soft_error_limit of 10). */
  maxRcptPerSession: number;
  addressFamilies: readonly AddressFamily[];
  /** Overall budget for one verification (or one batch of one domain), DNS included. */
  budgetMs: number;
  /** CIDRs that may be connected to although special-purpose (loopback for tests, a lab network). */
  allowTargets: readonly string[];
  /**
   * Verify addresses at single-label domains (`root@vm`) rather than refuse them as invalid syntax.
   * The DNS saying such a name does not exist is then no evidence (the name may live in a search
   * domain or /etc/hosts): the verdict is `unverifiable`, never undeliverable. Default false.
   */
  singleLabelDomains?: boolean;
}

/**
 * Asked before each connection with the exact IP, the MX host name it is an
 * address of (an address literal's own text when the domain is one), and the
 * mail domain the session is for. Returns a release function (called once the
 * session is closed) or null to refuse: the service uses it for per-MX-address
 * and per-MX-site concurrency and rate limits, and for the per-MX-address flood
 * breaker.
 */
export interface ConnectGate {
  acquire(ip: string, signal: AbortSignal, host?: string, domain?: string): Promise<(() => void) | null>;
}

export interface EngineDeps {
  resolver: DnsResolver;
  connector: Connector;
  gate?: ConnectGate;
  random?: () => number;
  randomLocalPart?: () => string;
  /** Hosts known to hold their reply to EHLO behind their TLS session ticket; default: a fresh memory. */
  ticketStalls?: TicketStalls;
}

export interface VerifyOptions {
  signal?: AbortSignal;
  /** Include the SMTP transcript in the verdict. */
  transcript?: boolean;
  /** Resolve only after RSET/QUIT completed (so the transcript includes them). */
  waitForClose?: boolean;
  /**
   * Where the random (catch-all) probe goes. 'last' for a domain whose MX was
   * seen to end the session after refusing it (EngineVerdict.probePunished):
   * the addresses are then asked first, one command at a time.
   */
  randomProbe?: 'first' | 'last';
}

export interface EngineVerdict extends Verdict {
  attempts: Attempt[];
  /**
   * An MX of the domain ended the session after refusing the random probe
   * (e.g. Postfix's smtpd_hard_error_limit): a fact about the domain worth
   * remembering, so that its next callouts pass `randomProbe: 'last'`.
   */
  probePunished: boolean;
}

const LOCAL_PART_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const LOCAL_PART_LENGTH = 16;
/**
 * Random octets for the probes' local parts, drawn from the CSPRNG 4 KiB at a time (one
 * `randomBytes` call per verification cost more than the rest of making the local part); every
 * octet is used once, so each local part is as unguessable as with its own call.
 */
const randomPool = Buffer.alloc(4096);
let randomPoolAt = randomPool.length;

/** An unguessable local part for the catch-all probe: 80 random bits, lower-case letters and digits. */
export function defaultRandomLocalPart(): string {
  if (randomPoolAt + LOCAL_PART_LENGTH > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolAt = 0;
  }
  let local = '';
  for (let i = 0; i < LOCAL_PART_LENGTH; i++)
    local += LOCAL_PART_ALPHABET.charAt((randomPool[randomPoolAt + i] ?? 0) & 31);
  randomPoolAt += LOCAL_PART_LENGTH;
  return local;
}

/** The verdict says where the address went beyond RFC 5321 (an SRS sender's long local part, say). */
function withNotes(verdict: EngineVerdict, notes: readonly string[]): EngineVerdict {
  return notes.length === 0 ? verdict : { ...verdict, message: `${verdict.message} (${notes.join('; ')})` };
}

export class VerificationEngine {
  private readonly probe: Probe;
  private readonly targets: TargetPolicy;
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly options: EngineOptions,
    private readonly deps: EngineDeps,
  ) {
    this.probe = new Probe(deps.connector, options.probe, deps.ticketStalls);
    this.targets = new TargetPolicy(options.allowTargets);
  }

  /** How many addresses one session carries (max_rcpt_per_session less the catch-all probe): size batches by it. */
  get addressesPerSession(): number {
    return Math.max(1, this.options.maxRcptPerSession - (this.options.probe.catchAllTest ? 1 : 0));
  }

  /** Resolves when every background RSET/QUIT has finished. */
  async idle(): Promise<void> {
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  /** One address: a batch of one (what verifyBatch does for it, without the grouping). */
  async verify(input: string, opts: VerifyOptions = {}): Promise<EngineVerdict> {
    const startedAt = Date.now();
    const parsed = this.parse(input);
    if (!parsed.ok) return this.syntaxVerdict(input, parsed, startedAt);
    const [verdict] = await this.verifyDomain([parsed.mailbox], opts, startedAt);
    if (!verdict) throw new Error('verifyDomain returned no verdict');
    return withNotes(verdict, parsed.mailbox.notes);
  }

  private parse(input: string): ParseResult {
    return parseMailbox(input, { singleLabelDomains: this.options.singleLabelDomains ?? false });
  }

  private syntaxVerdict(
    input: string,
    parsed: Extract<ParseResult, { ok: false }>,
    startedAt: number,
  ): EngineVerdict {
    const unverifiable = parsed.kind === 'unverifiable';
    return this.verdict(input, '', startedAt, {
      reason: unverifiable ? 'unverifiable' : 'invalid_syntax',
      rule: unverifiable ? 'local.unverifiable' : 'local.invalid-syntax',
      message: parsed.error,
    });
  }

  /**
   * Several addresses, one verdict each in the same order. Addresses of one
   * domain (the intended use: at most addressesPerSession of them) share one
   * MX walk and one SMTP session per attempt; a "452 4.5.3 too many
   * recipients" or a lost session falls back to fewer per session for the
   * addresses not yet answered. Addresses of other domains are verified as
   * their own batches, side by side. Never rejects for anything a remote
   * party can cause.
   */
  async verifyBatch(inputs: readonly string[], opts: VerifyOptions = {}): Promise<EngineVerdict[]> {
    const startedAt = Date.now();
    const verdicts: EngineVerdict[] = new Array<EngineVerdict>(inputs.length);
    const byDomain = new Map<string, { index: number; mailbox: Mailbox }[]>();
    inputs.forEach((input, index) => {
      const parsed = this.parse(input);
      if (!parsed.ok) {
        verdicts[index] = this.syntaxVerdict(input, parsed, startedAt);
        return;
      }
      const group = byDomain.get(parsed.mailbox.domain) ?? [];
      group.push({ index, mailbox: parsed.mailbox });
      byDomain.set(parsed.mailbox.domain, group);
    });
    await Promise.all(
      [...byDomain.values()].map(async (group) => {
        const results = await this.verifyDomain(
          group.map((g) => g.mailbox),
          opts,
          startedAt,
        );
        group.forEach((g, i) => {
          const v = results[i];
          if (v) verdicts[g.index] = withNotes(v, g.mailbox.notes);
        });
      }),
    );
    return verdicts;
  }

  private async verifyDomain(
    mailboxes: readonly Mailbox[],
    opts: VerifyOptions,
    startedAt: number,
  ): Promise<EngineVerdict[]> {
    const first = mailboxes[0];
    if (!first) return [];
    const budget = new Budget(this.options.budgetMs, opts.signal);
    // The sessions' RSET/QUIT may go on after the verdicts: the budget still bounds them.
    const closes: Promise<void>[] = [];
    try {
      const route = singleLabelRoute(first.domain, await this.route(first, budget.signal, opts.signal));
      if (route.kind === 'verdict')
        return mailboxes.map((m) => this.verdict(m.address, m.domain, startedAt, route));
      return await this.callout(mailboxes, route.hosts, budget.signal, opts, startedAt, closes);
    } finally {
      if (closes.length === 0) budget.release();
      else void Promise.all(closes).then(budget.release, budget.release);
    }
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
    let expire = (): void => undefined;
    const deadline = new Promise<MailRoute>((resolve) => {
      // Cancelled by the caller (a shutdown) is about us, not the domain's DNS: local.aborted,
      // as the same cancellation is during the SMTP dialogue, so that nobody caches it.
      expire = (): void =>
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
      // The budget cannot run out before this deadline (ms is at most the budget, started first):
      // only a caller's cancel can end the lookups sooner, so without one there is nothing to hear.
      if (signal.aborted) expire();
      else if (cancel) signal.addEventListener('abort', expire, { once: true });
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
      if (cancel) signal.removeEventListener('abort', expire);
    }
  }

  /** targets -> try one target at a time -> choose, per address. */
  private async callout(
    mailboxes: readonly Mailbox[],
    hosts: MailHost[],
    signal: AbortSignal,
    opts: VerifyOptions,
    startedAt: number,
    closes: Promise<void>[],
  ): Promise<EngineVerdict[]> {
    const { targets, refused } = targetsOf(hosts, this.targets, this.options.maxAddresses);
    const ctx = this.context(mailboxes, signal, opts, startedAt, closes);
    const states = mailboxes.map(newAddressState);
    for (const { target, range } of refused) {
      ctx.transcripts.push([
        {
          t: Date.now() - startedAt,
          dir: '*',
          line: `refused to connect to ${target.host} [${target.ip}]: ${range} address`,
        },
      ]);
      for (const a of states)
        a.attempts.push({
          host: target.host,
          ip: target.ip,
          reason: 'unsafe_target',
          rule: 'local.unsafe-target',
          stage: null,
        });
    }
    for (const target of targets) {
      if (states.every((a) => a.decided || a.sessionsUsed >= this.options.maxSessions)) break;
      for (const a of states) a.skipHost = false;
      if ((await tryTarget(ctx, target, states)) === 'stop') break;
    }
    if (opts.waitForClose) await Promise.all(ctx.closes);
    const transcript = opts.transcript ? ctx.transcripts.flat() : undefined;
    return states.map((a) => this.answer(a, ctx, refused, startedAt, transcript));
  }

  private context(
    mailboxes: readonly Mailbox[],
    signal: AbortSignal,
    opts: VerifyOptions,
    startedAt: number,
    closes: Promise<void>[],
  ): CalloutContext {
    return {
      probe: this.probe,
      gate: this.deps.gate,
      maxSessions: this.options.maxSessions,
      maxRcptPerSession: this.options.maxRcptPerSession,
      randomProbe: opts.randomProbe ?? 'first',
      domain: mailboxes[0]?.domain ?? '',
      randomLocalPart: (this.deps.randomLocalPart ?? defaultRandomLocalPart)(),
      signal,
      startedAt,
      budgetMs: this.options.budgetMs,
      transcript: opts.transcript ?? false,
      transcripts: [],
      closes,
      track: (closed) => {
        closes.push(closed);
        this.closing.add(closed);
        void closed.finally(() => this.closing.delete(closed));
      },
      probePunished: false,
    };
  }

  /** The verdict for one address of a callout. */
  private answer(
    a: AddressState,
    ctx: CalloutContext,
    refused: TargetList['refused'],
    startedAt: number,
    transcript: TranscriptLine[] | undefined,
  ): EngineVerdict {
    const extra = {
      attempts: a.attempts,
      probePunished: ctx.probePunished,
      ...(transcript ? { transcript } : {}),
    };
    const { address, domain } = a.mailbox;
    const chosen = chooseAnswer(a);
    if (!chosen) {
      const message = refusedMessage(refused);
      return {
        ...this.verdict(address, domain, startedAt, {
          reason: 'unsafe_target',
          rule: 'local.unsafe-target',
          message,
        }),
        ...extra,
      };
    }
    const { decision, target } = chosen;
    const untested =
      ctx.probePunished && decision.catchAllProbe === null && decision.reason === 'accepted'
        ? ' (catch-all untested: the server ends the session after refusing a random local part)'
        : '';
    return {
      ...this.verdict(address, domain, startedAt, { ...decision, message: decision.message + untested }),
      mx: target,
      smtp: decision.reply,
      catchAllProbe: decision.catchAllProbe,
      ...extra,
    };
  }

  private verdict(
    address: string,
    domain: string,
    startedAt: number,
    v: { reason: EngineReason; rule: string; message: string },
  ): EngineVerdict {
    const meaning = REASON_MEANING[v.reason];
    return {
      address,
      domain,
      result: meaning.result,
      reason: v.reason,
      temporary: meaning.temporary,
      rule: v.rule,
      message: v.message,
      mx: null,
      smtp: null,
      catchAllProbe: null,
      durationMs: Date.now() - startedAt,
      attempts: [],
      probePunished: false,
    };
  }
}
