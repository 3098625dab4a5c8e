/**
 * The most recent decisions and the SMTP transcripts behind them, in memory,
 * for the dashboard: what was asked, what cbv answered, what the front-end
 * did with it, and the dialogue that decided it.
 */
import type { TranscriptLine } from '../core/index.js';
import { BoundedMap } from '../limits/bounded-map.js';
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

/**
 * What is kept per decision: the public shape, with the time as a number until someone asks,
 * and the verdict it was made from (to find it again when the front-end reports its action).
 */
type Held = Omit<RecentDecision, 'at' | 'hasTranscript'> & { atMs: number; verdict: ServiceVerdict };

export class RecentActivity extends NullTelemetry {
  /** A ring: verdict() runs on every request, so no shifting of arrays and no date formatting there. */
  private readonly ring: (Held | undefined)[];
  private next = 0;
  private readonly transcripts: BoundedMap<string, { at: string; lines: TranscriptLine[] }>;
  private nextId = 1;

  constructor(maxDecisions = 500, maxTranscripts = 500) {
    super();
    this.ring = new Array<Held | undefined>(maxDecisions);
    this.transcripts = new BoundedMap(maxTranscripts);
  }

  override verdict(v: ServiceVerdict): void {
    const d: Held = {
      id: this.nextId++,
      atMs: Date.now(),
      address: v.address,
      result: v.result,
      reason: v.reason,
      rule: v.rule,
      durationMs: v.durationMs,
      cached: v.cache.hit,
      fact: v.cache.fact,
      action: null,
      frontend: null,
      verdict: v,
    };
    this.ring[this.next] = d;
    this.next = (this.next + 1) % this.ring.length;
  }

  override callout(v: CalloutVerdict): void {
    if (!v.transcript || v.transcript.length === 0) return;
    this.transcripts.set(v.address, { at: new Date().toISOString(), lines: v.transcript });
  }

  /** The policy front-end reports what it did with a verdict it got from the Verifier. */
  override policyDecision(action: string, _outcome: PolicyOutcome, verdict: ServiceVerdict | null): void {
    const d = verdict ? this.held(verdict) : undefined;
    if (d) {
      d.action = action;
      d.frontend = 'policy';
    }
  }

  /**
   * The entry made from this verdict, searched newest first: it is usually the newest, as the
   * front-end reports right after the Verifier answered. (A WeakMap from verdict to entry cost
   * more per request than the search: every set is an ephemeron the garbage collector must trace.)
   */
  private held(verdict: ServiceVerdict): Held | undefined {
    for (let i = 1; i <= this.ring.length; i++) {
      const d = this.ring[(this.next - i + this.ring.length) % this.ring.length];
      if (!d) return undefined;
      if (d.verdict === verdict) return d;
    }
    return undefined;
  }

  /** Newest first. */
  list(limit = 100): RecentDecision[] {
    const out: RecentDecision[] = [];
    for (let i = 1; i <= this.ring.length && out.length < limit; i++) {
      const d = this.ring[(this.next - i + this.ring.length) % this.ring.length];
      if (!d) break;
      const { atMs, verdict: _verdict, ...rest } = d;
      out.push({ ...rest, at: new Date(atMs).toISOString(), hasTranscript: this.transcripts.has(d.address) });
    }
    return out;
  }

  transcript(address: string): { at: string; lines: TranscriptLine[] } | null {
    return this.transcripts.get(address) ?? null;
  }
}
