/**
 * The most recent decisions and the SMTP transcripts behind them, in memory,
 * for the dashboard: what was asked, what cbv answered, what the front-end
 * did with it, and the dialogue that decided it.
 */
import type { TranscriptLine } from '../core/index.js';
import { NullTelemetry, type PolicyOutcome } from '../observability/telemetry.js';
import type { CalloutVerdict } from './verifier.js';
import type { ServiceVerdict } from './verdict.js';

export interface RecentDecision {
  id: number;
  /** ISO time of the answer. */
  at: string;
  address: string;
  result: string;
  reason: string;
  rule: string;
  durationMs: number;
  cached: boolean;
  fact: string | null;
  /** What the front-end did with the verdict (a policy action), when one reported it. */
  action: string | null;
  frontend: string | null;
  /** Whether a transcript of the callout behind this answer is held. */
  hasTranscript: boolean;
}

export class RecentActivity extends NullTelemetry {
  private readonly decisions: RecentDecision[] = [];
  private readonly byVerdict = new WeakMap<object, RecentDecision>();
  private readonly transcripts = new Map<string, { at: string; lines: TranscriptLine[] }>();
  private nextId = 1;

  constructor(
    private readonly maxDecisions = 500,
    private readonly maxTranscripts = 500,
  ) {
    super();
  }

  override verdict(v: ServiceVerdict): void {
    const d: RecentDecision = {
      id: this.nextId++,
      at: new Date().toISOString(),
      address: v.address,
      result: v.result,
      reason: v.reason,
      rule: v.rule,
      durationMs: v.durationMs,
      cached: v.cache.hit,
      fact: v.cache.fact,
      action: null,
      frontend: null,
      hasTranscript: this.transcripts.has(v.address),
    };
    this.decisions.push(d);
    if (this.decisions.length > this.maxDecisions) this.decisions.shift();
    this.byVerdict.set(v, d);
  }

  override callout(v: CalloutVerdict): void {
    if (!v.transcript || v.transcript.length === 0) return;
    this.transcripts.delete(v.address);
    this.transcripts.set(v.address, { at: new Date().toISOString(), lines: v.transcript });
    if (this.transcripts.size > this.maxTranscripts) {
      const oldest = this.transcripts.keys().next();
      if (!oldest.done) this.transcripts.delete(oldest.value);
    }
  }

  /** The policy front-end reports what it did with a verdict it got from the Verifier. */
  override policyDecision(action: string, _outcome: PolicyOutcome, verdict: ServiceVerdict | null): void {
    const d = verdict ? this.byVerdict.get(verdict) : undefined;
    if (d) {
      d.action = action;
      d.frontend = 'policy';
    }
  }

  /** Newest first. */
  list(limit = 100): RecentDecision[] {
    return this.decisions.slice(-limit).reverse();
  }

  transcript(address: string): { at: string; lines: TranscriptLine[] } | null {
    return this.transcripts.get(address) ?? null;
  }
}
