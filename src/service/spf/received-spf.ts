/**
 * The Received-SPF header field (RFC 7208 section 9.1), as policyd-spf adds
 * it: the result, a comment, and the key-value pairs a later reader needs to
 * check it again (client-ip, envelope-from, helo, receiver, identity).
 */
import type { SpfOutcome } from './outcome.js';

/** A value as RFC 7208's key-value-pair allows: dot-atom when it is one, else a quoted-string. */
function value(text: string): string {
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(text)) return text;
  return `"${text.replace(/[^\x20-\x7e]/g, '').replace(/(["\\])/g, '\\$1')}"`;
}

/** A comment: printable ASCII, no parentheses or backslashes that would end or escape it. */
function comment(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '').replace(/[()\\]/g, '');
}

/**
 * The whole field, `Received-SPF: <result> (<comment>) key=value; ...`, on one
 * line (Postfix folds long PREPENDed headers itself).
 */
export function receivedSpf(
  outcome: SpfOutcome,
  facts: { sender: string; helo: string | null; receiver: string },
): string {
  const pairs = [
    `client-ip=${value(outcome.clientIp)}`,
    `envelope-from=${value(facts.sender === '' ? '<>' : facts.sender)}`,
    ...(facts.helo ? [`helo=${value(facts.helo)}`] : []),
    `receiver=${value(facts.receiver)}`,
    `identity=${outcome.identity}`,
  ];
  return `Received-SPF: ${outcome.result} (${comment(`${facts.receiver}: ${outcome.comment}`)}) ${pairs.join('; ')}`;
}
