/**
 * The logger's hot-path pieces write exactly what pino writes: logFlat (the line written on
 * every request) against logEvent, and the batching in front of sonic-boom loses nothing.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EVENTS } from '../../../src/observability/events.js';
import {
  createLogger,
  FlatEvent,
  LineBatch,
  logEvent,
  logFlat,
  type FlatValue,
} from '../../../src/observability/logger.js';

/** A logger writing into an array of lines. */
function capture(level = 'info'): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

/** Let the Writable's callbacks run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The two lines with their times set equal (they were taken a moment apart). */
const sameTime = (line: string): string => line.replace(/"time":"[^"]*"/, '"time":"T"');

/** Text from outside: quotes, backslashes, controls, C1, bidi, separators, astral characters, no lone surrogates. */
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '"',
      '\\',
      '\n',
      '\r',
      '\t',
      '\x00',
      '\x1b',
      '\x7f',
      '\u009b',
      '\u202e',
      '\u2028',
      '\u200b',
    ),
    fc.constantFrom('a', '@', '.', ' ', 'é', '日', '😀'),
  ),
  maxLength: 120,
});
const value: fc.Arbitrary<FlatValue> = fc.oneof(
  text,
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
);

describe('logFlat', () => {
  it('writes the line logEvent writes, for any field values (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('address', 'reply', 'code', 'x"y', 'ü'), value),
        async (fields) => {
          const { logger, lines } = capture();
          logEvent(logger, 'info', EVENTS.verifyResult, fields);
          logFlat(logger, 'info', EVENTS.verifyResult, fields);
          await settle();
          assert.equal(lines.length, 2);
          assert.equal(sameTime(lines[1] ?? ''), sameTime(lines[0] ?? ''));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes the verify.result line a reader parses back to its values', async () => {
    const { logger, lines } = capture();
    logFlat(logger, 'info', EVENTS.verifyResult, { address: 'eve\u202e@example.org', code: 550, fact: null });
    await settle();
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.deepEqual(
      { level: line.level, service: line.service, event: line.event, msg: line.msg },
      { level: 'info', service: 'cbv', event: 'verify.result', msg: 'verify.result' },
    );
    assert.equal(line.address, 'eve\u202e@example.org');
    assert.match(lines[0] ?? '', /eve\\u202e@/, 'escaped as every other line is');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes nothing below the logger level', async () => {
    const { logger, lines } = capture('warn');
    logFlat(logger, 'info', EVENTS.verifyResult, { address: 'a@example.org' });
    await settle();
    assert.deepEqual(lines, []);
  });
});

describe('FlatEvent', () => {
  it('writes the line logEvent writes, for any values of its fields (property)', async () => {
    const names = ['address', 'code', 'x"y', 'ü', 'fact'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(value, { minLength: names.length, maxLength: names.length }),
        async (values) => {
          const { logger, lines } = capture();
          const event = new FlatEvent(logger, 'info', EVENTS.verifyResult, names);
          const fields = Object.fromEntries(names.map((n, i) => [n, values[i] ?? null]));
          logEvent(logger, 'info', EVENTS.verifyResult, fields);
          event.log(values);
          event.log(values); // the same values again: nothing of the first line is kept
          await settle();
          assert.equal(lines.length, 3);
          assert.equal(sameTime(lines[1] ?? ''), sameTime(lines[0] ?? ''));
          assert.equal(sameTime(lines[2] ?? ''), sameTime(lines[0] ?? ''));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes nothing below the logger level, and logs through pino for a logger of its own', async () => {
    const quiet = capture('warn');
    new FlatEvent(quiet.logger, 'info', EVENTS.verifyResult, ['address']).log(['a@example.org']);
    await settle();
    assert.deepEqual(quiet.lines, []);
    const lines: string[] = [];
    const { pino } = await import('pino');
    const own = pino(
      { base: { service: 'cbv' } },
      new Writable({
        write(chunk: Buffer, _e, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    new FlatEvent(own, 'info', EVENTS.verifyResult, ['address']).log(['a@example.org']);
    await settle();
    assert.equal((JSON.parse(lines[0] ?? '{}') as { address?: string }).address, 'a@example.org');
  });
});

describe('LineBatch', () => {
  it('hands lines over in order, in batches of at least its size, and everything on flush', () => {
    const written: string[] = [];
    const batch = new LineBatch(
      { write: (b) => written.push(b.toString()) > 0, flush: (done) => done(), flushSync: () => undefined },
      100,
    );
    const lines = Array.from({ length: 50 }, (_, i) => `{"n":${i}}\n`);
    for (const line of lines) batch.write(line);
    assert.ok(written.length >= 1 && written.length < 10, `${written.length} writes for 50 lines`);
    for (const w of written) assert.ok(w.length >= 100);
    batch.flushSync();
    assert.equal(written.join(''), lines.join(''));
  });
});
