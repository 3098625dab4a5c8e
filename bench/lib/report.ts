/** Output shared by the benchmarks: a Markdown table on stdout and JSON in bench/results/. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from './stats.js';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

export type Cell = string | number | boolean;

/** A Markdown table (the README's tables are pasted from this). */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const line = (cells: readonly Cell[]): string => `| ${cells.map(String).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Writes bench/results/<name>.json with the machine and the date, and returns its path. */
export function writeResult(name: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.json`);
  const record = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...data };
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}

/**
 * Refuses to run outside the network namespace bench/run.sh made: these benchmarks bind port 25
 * on many 127.x addresses and add delays to loopback, which must never touch the host's own.
 */
export function assertInBenchNamespace(): string {
  const expected = process.env.CBV_BENCH_NETNS;
  let actual = '';
  try {
    actual = execFileSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).trim();
  } catch {
    // no ip(8), or not in a named namespace
  }
  if (!expected || actual !== expected) {
    throw new Error('run this benchmark through bench/run.sh, which makes its network namespace');
  }
  return actual;
}

/** Rounds to `digits` decimals, for tables. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
