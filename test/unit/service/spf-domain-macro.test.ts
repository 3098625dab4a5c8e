/**
 * %{d} bound to the record's own domain before mailauth reads the record (RFC 7208 7.3): the
 * transformers (rightmost parts, reversal, delimiters), the URL-escaped upper-case form, and what
 * must stay as it is (escaped percent signs, other macro letters, malformed macros).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindDomainMacros, usesValidatedNameMacro } from '../../../src/service/spf/domain-macro.js';

describe('bindDomainMacros', () => {
  const cases: [string, string, string][] = [
    ['v=spf1 a:mx.%{d} -all', '_spf.vendor.example', 'v=spf1 a:mx._spf.vendor.example -all'],
    ['v=spf1 exists:%{i}.%{d2} -all', 'a.b.vendor.example', 'v=spf1 exists:%{i}.vendor.example -all'],
    ['v=spf1 exists:%{dr} -all', 'a.b.example', 'v=spf1 exists:example.b.a -all'],
    ['v=spf1 exists:%{d1r} -all', 'a.b.example', 'v=spf1 exists:a -all'],
    // Given delimiters replace the dot: a-b.c.example splits into 'a' and 'b.c.example'.
    ['v=spf1 exists:%{d2r-} -all', 'a-b.c.example', 'v=spf1 exists:b.c.example.a -all'],
    ['v=spf1 exists:%{D} -all', 'Vendor.example', 'v=spf1 exists:Vendor.example -all'],
    ['v=spf1 include:%{d}. -all', 'vendor.example.', 'v=spf1 include:vendor.example. -all'],
    // Not a d macro: an escaped percent, other letters, %{d0} (not allowed) stay for mailauth.
    ['v=spf1 exists:%%{d}.x -all', 'vendor.example', 'v=spf1 exists:%%{d}.x -all'],
    [
      'v=spf1 exists:%{l}.%{o}.%{s}.%{h}.%_%- -all',
      'v.example',
      'v=spf1 exists:%{l}.%{o}.%{s}.%{h}.%_%- -all',
    ],
    ['v=spf1 exists:%{d0}.x -all', 'vendor.example', 'v=spf1 exists:%{d0}.x -all'],
    ['v=spf1 exists:%{dq}.x -all', 'vendor.example', 'v=spf1 exists:%{dq}.x -all'],
    // %{p}, the client's validated name, which cbv does not validate: RFC 7208 7.3's "unknown".
    ['v=spf1 exists:%{p}._allow.%{d} -all', 'v.example', 'v=spf1 exists:unknown._allow.v.example -all'],
    ['v=spf1 exists:%{p2r}.x %{P}.y -all', 'v.example', 'v=spf1 exists:unknown.x unknown.y -all'],
    ['v=spf1 exists:%%{p}.x %%%{p}.y -all', 'v.example', 'v=spf1 exists:%%{p}.x %%unknown.y -all'],
  ];
  for (const [record, domain, expected] of cases) {
    it(`${record} at ${domain}`, () => assert.equal(bindDomainMacros(record, domain), expected));
  }
});

describe('usesValidatedNameMacro', () => {
  const cases: [string, boolean][] = [
    ['v=spf1 exists:%{p}.x -all', true],
    ['v=spf1 exists:%{P}.x -all', true],
    ['v=spf1 exists:%{p1r-}.x -all', true],
    ['v=spf1 exists:%%%{p}.x -all', true],
    ['v=spf1 exists:%%{p}.x -all', false],
    ['v=spf1 exists:%{d}.x ptr -all', false],
  ];
  for (const [record, expected] of cases) {
    it(`${record}: ${expected}`, () => assert.equal(usesValidatedNameMacro(record), expected));
  }
});
