'use strict';
/**
 * haraka-plugin-cbv: SMTP callback verification of the envelope sender, by asking a cbv daemon.
 *
 * At MAIL FROM the plugin asks cbv's policy server (the Postfix policy delegation protocol, the
 * same decision path Postfix uses, with the client IP and HELO name, so cbv's SPF and decision
 * table apply) and answers DENY, DENYSOFT or continues with cbv's reply text. At RCPT TO it asks
 * cbv to call-forward recipients of the configured relay domains (cbv's `service.routes`).
 *
 * It never asks about the null sender, relaying (authenticated or relay-allowed) clients, or
 * allow-listed senders. When cbv cannot answer within the timeout, the message continues
 * (fail-open) or is deferred, as configured: a verifier outage must never cost legitimate mail.
 */
const { domainToASCII } = require('node:url');
const constants = require('haraka-constants');
const DSN = require('haraka-dsn');
const { PolicyClient } = require('./lib/policy-client');
const { readAction } = require('./lib/policy-action');

/**
 * `user@host` of a Haraka envelope address: a getter in @haraka/email-address 3.x, a method in
 * the address-rfc2821 objects of older Haraka releases.
 */
function addressOf(addr) {
  if (!addr) return '';
  return typeof addr.address === 'function' ? addr.address() : String(addr.address ?? '');
}

/**
 * A domain as cbv compares it: A-labels, lower case, no trailing dot. Entries in cbv.ini and the
 * domains of envelope addresses are both read through it, so `Bücher.Example.` in the file matches
 * a sender at `xn--bcher-kva.example` and the reverse (a U-label, upper case or a final dot in
 * either made the allow list miss, and cbv was asked about a sender the administrator exempted).
 */
function canonicalDomain(domain) {
  const name = String(domain).trim().replace(/\.$/, '');
  const ascii = /^[\x21-\x7e]*$/.test(name) ? name : domainToASCII(name.normalize('NFC'));
  return (ascii || name).toLowerCase();
}

/** An address (local part in lower case, domain canonical), a domain, or a `.parent` domain. */
function canonicalEntry(entry) {
  const at = entry.lastIndexOf('@');
  if (at >= 0) return `${entry.slice(0, at).toLowerCase()}@${canonicalDomain(entry.slice(at + 1))}`;
  if (entry.startsWith('.')) return `.${canonicalDomain(entry.slice(1))}`;
  return canonicalDomain(entry);
}

exports.register = function () {
  this.load_cbv_ini();
  this.register_hook('mail', 'check_sender');
  this.register_hook('rcpt', 'check_recipient');
};

exports.load_cbv_ini = function () {
  const cfg = this.config.get('cbv.ini', { booleans: ['+main.add_header', '-main.defer_on_error'] }, () =>
    this.load_cbv_ini(),
  );
  const main = cfg.main ?? {};
  const server = cfg.server ?? {};
  const list = (value) =>
    String(value ?? '')
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean)
      .map(canonicalEntry);
  const rejectAt = String(main.reject_at ?? 'mail').toLowerCase();
  this.settings = {
    timeoutMs: Math.round(1000 * Number(server.timeout ?? 15)),
    onError: String(main.on_error ?? 'accept').toLowerCase() === 'defer' ? 'defer' : 'accept',
    rejectAt: rejectAt === 'rcpt' ? 'rcpt' : 'mail',
    addHeader: main.add_header !== false,
    callforward: new Set(list(cfg.callforward?.domains)),
    skipSenders: new Set(list(cfg.skip?.senders)),
  };
  const target = server.socket
    ? { path: String(server.socket) }
    : { host: String(server.host ?? '127.0.0.1'), port: Number(server.port ?? 10040) };
  if (this.client) this.client.close();
  this.client = new PolicyClient({
    ...target,
    timeoutMs: this.settings.timeoutMs,
    maxConnections: Number(server.max_connections ?? 8),
  });
};

exports.shutdown = function () {
  if (this.client) this.client.close();
};

/** True when the sender (an address or its domain) is on the plugin's allow list. */
exports.is_allowed = function (address) {
  const lower = canonicalEntry(address);
  const domain = lower.slice(lower.lastIndexOf('@') + 1);
  const skip = this.settings.skipSenders;
  if (skip.has(lower) || skip.has(domain)) return true;
  // ".example.org" allows every subdomain of example.org.
  const labels = domain.split('.');
  for (let i = 1; i < labels.length; i++) if (skip.has(`.${labels.slice(i).join('.')}`)) return true;
  return false;
};

/** Why this sender is not checked, or null to check it. */
exports.skip_reason = function (connection, from) {
  if (!from || from.isNull()) return 'null sender';
  if (connection.relaying) return 'relaying client';
  if (this.is_allowed(addressOf(from))) return 'allow-listed sender';
  return null;
};

/** The policy request for this transaction, as Postfix would write it. */
exports.request = function (connection, state, recipient) {
  const txn = connection.transaction;
  const from = txn.mail_from;
  const remote = connection.remote ?? {};
  return {
    request: 'smtpd_access_policy',
    protocol_state: state,
    protocol_name: connection.greeting === 'EHLO' ? 'ESMTP' : 'SMTP',
    client_address: remote.ip,
    client_name: remote.host && remote.host !== 'Unknown' ? remote.host : 'unknown',
    reverse_client_name: remote.host && remote.host !== 'Unknown' ? remote.host : 'unknown',
    helo_name: connection.hello?.host ?? '',
    sender: from && !from.isNull() ? addressOf(from) : '',
    recipient: recipient ?? '',
    instance: txn.uuid,
    sasl_username: connection.notes?.auth_user ?? '',
  };
};

/**
 * Asks cbv and answers the hook. `what` names the check in the transaction's results.
 * @param {Function} next the hook's callback
 */
exports.ask = function (next, connection, attrs, what) {
  const txn = connection.transaction;
  this.client.ask(attrs).then(
    (action) => {
      if (!connection.transaction) return next(); // the client went away meanwhile
      const v = readAction(action);
      if (v.kind === 'continue') {
        if (v.header && this.settings.addHeader) txn.add_header(v.header.name, v.header.value);
        if (v.warning) connection.loginfo(this, `${what}: ${v.warning}`);
        txn.results.add(this, { pass: what });
        return next();
      }
      const [cls, subject, detail] = v.enhanced;
      const dsn = DSN.create(v.code, v.text, subject, detail);
      txn.results.add(this, { fail: `${what}(${v.code} ${cls}.${subject}.${detail})` });
      return next(v.kind === 'deny' ? constants.deny : constants.denysoft, dsn);
    },
    (error) => {
      if (connection.transaction)
        connection.transaction.results.add(this, { err: `${what}: ${error.message}` });
      connection.logwarn(this, `cbv did not answer (${error.message}); ${this.settings.onError}`);
      if (this.settings.onError === 'defer') {
        return next(
          constants.denysoft,
          DSN.create(451, 'sender verification is unavailable, try again later', 4, 3),
        );
      }
      return next();
    },
  );
};

exports.check_sender = function (next, connection, params) {
  const txn = connection.transaction;
  if (!txn) return next();
  const from = params[0];
  const skip = this.skip_reason(connection, from);
  if (skip) {
    txn.results.add(this, { skip });
    return next();
  }
  if (this.settings.rejectAt !== 'mail') return next();
  return this.ask(next, connection, this.request(connection, 'MAIL'), 'sender');
};

exports.check_recipient = function (next, connection, params) {
  const txn = connection.transaction;
  if (!txn) return next();
  const rcpt = params[0];
  const domain = canonicalDomain(rcpt?.host ?? '');
  const forward = this.settings.callforward.has(domain);
  // With reject_at=rcpt, the first recipient carries the sender check (cbv verifies once per
  // message, by its instance); later recipients are asked only to call-forward.
  const senderHere =
    this.settings.rejectAt === 'rcpt' &&
    !txn.notes.cbv_sender_asked &&
    !this.skip_reason(connection, txn.mail_from);
  if (!forward && !senderHere) return next();
  txn.notes.cbv_sender_asked = true;
  return this.ask(
    next,
    connection,
    this.request(connection, 'RCPT', addressOf(rcpt)),
    forward ? 'recipient' : 'sender',
  );
};
