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

export class RecentActivity extends NullTelemetry {
  /**
   * A ring held in parallel arrays: verdict() runs on every request, so it makes no object there
   * (no shifting of arrays, no date formatting either). Slot i holds the verdict, its id, when it
   * was answered, and what the front-end did with it; the public fields are read from the
   * verdict when someone asks (list()).
   */
  private readonly verdicts: (ServiceVerdict | undefined)[];
  private readonly ids: number[];
  private readonly atMs: number[];
  private readonly actions: (string | null)[];
  private readonly frontends: (string | null)[];
  private next = 0;
  private readonly transcripts: BoundedMap<string, { at: string; lines: TranscriptLine[] }>;
  private nextId = 1;

  constructor(maxDecisions = 500, maxTranscripts = 500) {
    super();
    this.verdicts = new Array<ServiceVerdict | undefined>(maxDecisions).fill(undefined);
    this.ids = new Array<number>(maxDecisions).fill(0);
    this.atMs = new Array<number>(maxDecisions).fill(0);
    this.actions = new Array<string | null>(maxDecisions).fill(null);
    this.frontends = new Array<string | null>(maxDecisions).fill(null);
    this.transcripts = new BoundedMap(maxTranscripts);
  }

  override verdict(v: ServiceVerdict): void {
    const i = this.next;
    this.verdicts[i] = v;
    this.ids[i] = this.nextId++;
    this.atMs[i] = Date.now();
    this.actions[i] = null;
    this.frontends[i] = null;
    this.next = (i + 1) % this.verdicts.length;
  }

  override callout(v: CalloutVerdict): void {
    if (!v.transcript || v.transcript.length === 0) return;
    this.transcripts.set(v.address, { at: new Date().toISOString(), lines: v.transcript });
  }

  /** The policy front-end reports what it did with a verdict it got from the Verifier. */
  override policyDecision(action: string, _outcome: PolicyOutcome, verdict: ServiceVerdict | null): void {
    const i = verdict ? this.slotOf(verdict) : -1;
    if (i >= 0) {
      this.actions[i] = action;
      this.frontends[i] = 'policy';
    }
  }

  /**
   * The slot holding this verdict, searched newest first: it is usually the newest, as the
   * front-end reports right after the Verifier answered (-1 when it is no longer held). A WeakMap
   * from verdict to entry cost more per request than the search: every set is an ephemeron the
   * garbage collector must trace.
   */
  private slotOf(verdict: ServiceVerdict): number {
    const size = this.verdicts.length;
    for (let k = 1; k <= size; k++) {
      const i = (this.next - k + size) % size;
      const v = this.verdicts[i];
      if (v === undefined) return -1;
      if (v === verdict) return i;
    }
    return -1;
  }

  /** Newest first. */
  list(limit = 100): RecentDecision[] {
    const out: RecentDecision[] = [];
    const size = this.verdicts.length;
    for (let k = 1; k <= size && out.length < limit; k++) {
      const i = (this.next - k + size) % size;
      const v = this.verdicts[i];
      if (!v) break;
      out.push({
        id: this.ids[i] ?? 0,
        at: new Date(this.atMs[i] ?? 0).toISOString(),
        address: v.address,
        result: v.result,
        reason: v.reason,
        rule: v.rule,
        durationMs: v.durationMs,
        cached: v.cache.hit,
        fact: v.cache.fact,
        action: this.actions[i] ?? null,
        frontend: this.frontends[i] ?? null,
        hasTranscript: this.transcripts.has(v.address),
      });
    }
    return out;
  }

  transcript(address: string): { at: string; lines: TranscriptLine[] } | null {
    return this.transcripts.get(address) ?? null;
  }
}
