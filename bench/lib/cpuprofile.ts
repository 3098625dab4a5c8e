/** Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by file. */
import { readFileSync } from 'node:fs';
import { sourceOf } from './bundle-source.mjs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  /** Monotonic clock, microseconds (the clock of process.hrtime in every process on the machine). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const at = path.search(/\/(src|bench|test|node_modules)\//);
  return at >= 0 ? path.slice(at + 1) : path || '(native)';
}

/** A stretch of the profile: monotonic microseconds (process.hrtime.bigint() / 1000n). */
export interface Window {
  fromUs: number;
  toUs: number;
}

/**
 * The top `limit` entries of self time, grouped by function (or by file with byFile);
 * with `window`, only the samples taken within it (e.g. while a load ran, not start-up).
 */
export function selfTimes(file: string, limit = 15, byFile = false, window?: Window): SelfTime[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let all = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)?.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    all += us;
    if (!frame) return;
    // The build is bundled (scripts/build.mjs): name the source file, not the chunk.
    const origin = sourceOf(frame.url, frame.lineNumber, frame.columnNumber);
    const where = shortUrl(origin.url);
    const key = byFile ? where : `${frame.functionName || '(anonymous)'} ${where}:${origin.line + 1}`;
    totals.set(key, (totals.get(key) ?? 0) + us);
  });
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({
      name,
      ms: Math.round(us / 100) / 10,
      share: Math.round((us / all) * 1000) / 10,
    }));
}
