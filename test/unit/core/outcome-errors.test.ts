/**
 * Outcomes of talking to other servers (a closed connection, a timeout, NXDOMAIN) and the
 * decisions thrown to end a dialogue are errors that capture no stack trace (errors.ts
 * OutcomeError): they become verdicts, nobody reads their stacks, and capturing one cost every
 * verification tens of microseconds (issue 14, bench 3). Faults of cbv itself keep their stacks,
 * and the process-wide stack trace limit is left as it was.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsLookupError } from '../../../src/core/dns/resolver.js';
import {
  AbortedError,
  BudgetExceededError,
  ConnectError,
  ConnectionClosedError,
  LocalFaultError,
  OutcomeError,
  PhaseTimeoutError,
  ProbeError,
  ProtocolError,
  TlsError,
} from '../../../src/core/errors.js';
import { Decided, final } from '../../../src/core/smtp/decision.js';

const FRAME = /\n\s+at /;

const outcomes: [string, () => Error][] = [
  ['ConnectionClosedError', () => new ConnectionClosedError('server closed the connection')],
  ['PhaseTimeoutError', () => new PhaseTimeoutError('rcpt', 5000)],
  ['BudgetExceededError', () => new BudgetExceededError(60000)],
  ['ConnectError', () => new ConnectError('connect ECONNREFUSED', { cause: new Error('ECONNREFUSED') })],
  ['ProtocolError', () => new ProtocolError('unsolicited reply 250')],
  ['TlsError', () => new TlsError('handshake failed')],
  ['AbortedError', () => new AbortedError('aborted')],
  ['LocalFaultError', () => new LocalFaultError('EMFILE')],
  ['DnsLookupError', () => new DnsLookupError('nodata', 'mx.example', 'AAAA', 'no records of this type')],
  ['Decided', () => new Decided(final('accepted', 'rcpt.2xx', '250 ok', null, false))],
];

describe('outcome errors', () => {
  for (const [name, make] of outcomes) {
    it(`${name} keeps its class and message and captures no stack frames`, () => {
      const error = make();
      assert.ok(error instanceof OutcomeError);
      assert.equal(error.constructor.name, name);
      assert.ok(error.message.length > 0);
      assert.equal(error.stack, `${error.name}: ${error.message}`);
      assert.doesNotMatch(error.stack ?? '', FRAME);
    });
  }

  it('a probe error keeps its code, stage and cause', () => {
    const cause = new Error('ECONNREFUSED');
    const error = new ConnectError('connect ECONNREFUSED 192.0.2.1:25', { cause });
    assert.ok(error instanceof ProbeError);
    assert.equal(error.code, 'CBV_ERR_CONNECT');
    assert.equal(error.stage, 'connect');
    assert.equal(error.cause, cause);
  });

  it('leaves the stack trace limit as it was, so faults of cbv itself keep their stacks', () => {
    const before = Error.stackTraceLimit;
    try {
      Error.stackTraceLimit = 7;
      new ConnectionClosedError('closed');
      new DnsLookupError('nxdomain', 'example.invalid', 'MX', 'no such domain');
      assert.equal(Error.stackTraceLimit, 7);
      const fault = new TypeError('a bug');
      assert.match(fault.stack ?? '', FRAME);
    } finally {
      Error.stackTraceLimit = before;
    }
  });
});
