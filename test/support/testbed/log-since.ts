/**
 * Reading what a server's log file gained during a test. Postfix logs through postlogd, and Haraka
 * and Exim through their own writers: a line about a session reaches the file a moment after the
 * SMTP reply the test already has, later still on a loaded machine.
 */
import { readFile } from 'node:fs/promises';
import { sleep } from './process.js';

/** How long a reader waits for an expected line: a bound for a hang, not a pace. */
const EXPECTED_WITHIN_MS = 30_000;

/**
 * What `file` gained from now on. The reader, called with a pattern, polls until the text matches
 * it (or 30 s pass, and the caller's assertion then fails with the text); called without, it reads
 * once, which is what a check that something did *not* happen wants.
 */
export type LogReader = (until?: RegExp) => Promise<string>;

/** A LogReader of `file` from its current end. */
export async function logSince(file: string): Promise<LogReader> {
  const start = (await readFile(file)).length;
  const read = async (): Promise<string> => (await readFile(file)).subarray(start).toString('utf8');
  return async (until) => {
    const deadline = Date.now() + EXPECTED_WITHIN_MS;
    for (;;) {
      const text = await read();
      if (!until || until.test(text) || Date.now() > deadline) return text;
      await sleep(50);
    }
  };
}
