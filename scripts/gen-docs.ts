/**
 * Generates the reference docs that must never drift from the code:
 *   docs/verdicts.md         reason -> result, temporary (REASON_MEANING)
 *   docs/classification.md   the reply rule table (RULES)
 *   docs/config.md           every configuration key with its default
 * `npm run docs` writes them; test/unit/docs.test.ts fails when they are stale.
 */
import { writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { RULES, RULES_VERSION, SESSION_RULES, type SessionRule } from '../src/core/index.js';
import { SERVICE_REASON_MEANING, type ServiceReason } from '../src/service/verdict.js';
import { defaultsYaml } from '../src/config/defaults-yaml.js';

const MEANING: Record<ServiceReason, string> = {
  accepted:
    'The MX accepted the address, and refused a random local part, or the catch-all test told nothing (off, or the random local part got a 4xx: `catchAllProbe` is null). A positive verdict, so an inconclusive probe can only let a sender through, never reject one.',
  user_unknown:
    'The MX said the mailbox does not exist (5.1.x, a text that says so, or as a last resort a plain 550 with no text about us, quota, rate or policy).',
  mailbox_disabled: 'The MX said the mailbox is disabled (5.2.1).',
  mailbox_full: 'The MX said the mailbox is full (5.2.2, 552, or over quota in words): it exists.',
  catch_all: 'The MX accepts any local part, even a random one: no information about this address.',
  null_sender_rejected:
    'The domain refuses MAIL FROM:<> (bounces), so the address cannot receive replies (RFC 5321 4.5.5). Only on evidence about the null sender itself: a reply that names it, or a re-check that another sender is accepted.',
  no_such_domain: 'The domain does not exist (NXDOMAIN).',
  no_mail_host: 'The domain has neither MX nor address, or its MX hosts do not resolve.',
  null_mx: 'The domain publishes a Null MX (RFC 7505): it accepts no mail.',
  policy_rejected:
    'The MX refused *us* (block list, reputation, our HELO name, relay denied, TLS or auth required, 5.7.x), or refused in words of policy: nothing about the mailbox.',
  greylisted: 'The MX is greylisting the callout (4xx): ask again later.',
  temporary_failure:
    'Any other 4xx, a host that closed with 421, or a 5xx about throttling (rate, frequency, too many connections) or a condition it calls temporary.',
  timeout: 'A phase deadline or the overall budget expired.',
  connection_failed: 'No MX host could be connected to, or a session was lost.',
  dns_error: 'SERVFAIL or a DNS timeout.',
  unsafe_target: 'Every MX address is loopback, private or reserved: refused before any packet was sent.',
  invalid_syntax:
    'No mail can reach it, or Postfix itself refuses it: no domain, a domain the DNS cannot hold (the message says what and where).',
  unverifiable:
    "Mail systems may accept it, but cbv cannot put it on the wire: a control character, or a path beyond cbv's 1000 octets. Not verified.",
  protocol_error: 'The server sent something that is not SMTP, or more than cbv accepts.',
  rate_limited: "cbv's own politeness limits or flood breaker held the callout back.",
  pending: 'The callout did not finish within the inline budget; it goes on and its result is cached.',
  skipped: 'Not verified by rule: skip list, null sender, authenticated client, allow-list, local domain.',
  spf_pass:
    "SPF pass: the sender's domain (or, for the null sender, the HELO name) authorises the client, so no callout was made.",
  spf_fail:
    "SPF fail: the sender's domain forbids the client (rejected 550 5.7.23 by default), without a callout.",
};

export function verdictsDoc(): string {
  const rows = (Object.keys(SERVICE_REASON_MEANING) as ServiceReason[]).map((r) => {
    const m = SERVICE_REASON_MEANING[r];
    return `| \`${r}\` | ${m.result} | ${m.temporary ? 'yes' : 'no'} | ${MEANING[r]} |`;
  });
  return [
    '# Verdicts',
    '',
    'Every verification ends in one verdict (a value, never an exception) with exactly one `reason`.',
    'The reason fixes the `result` and whether the outcome is `temporary`; the `rule` names the line of',
    'the classification table (docs/classification.md) or the `local.*` / `dns.*` / `service.*` /',
    '`cache.*` decision that produced it.',
    '',
    '| reason | result | temporary | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    "`rate_limited` comes from the engine only when a connect gate (the service's per-MX limits) refused",
    'every host; `pending`, `skipped`, `spf_pass` and `spf_fail` come only from the service (`cbv serve`,',
    '`cbv verify --cache`); the SPF reasons only when the request names its client IP.',
    '',
    '## Verdict fields',
    '',
    '| field | meaning |',
    '| --- | --- |',
    '| `address`, `domain` | the address as verified (domain in A-labels) |',
    '| `result` | `deliverable`, `undeliverable`, `risky` or `unknown` |',
    '| `reason`, `temporary`, `rule`, `message` | see above; `message` is one human-readable line |',
    '| `mx` | `{host, ip, preference}` of the MX that decided, or null |',
    '| `smtp` | `{stage, code, enhancedCode, text}` of the deciding reply, or null |',
    '| `catchAllProbe` | the random local part was accepted (true), refused (false), or not tested or answered inconclusively, e.g. 4xx (null) |',
    '| `durationMs` | time to the decision |',
    '| `attempts` | every address tried: `{host, ip, reason, rule, stage}` |',
    '| `cache` | service only: `{hit, fact, ageSeconds}`; `fact` names the domain fact that answered |',
    '| `transcript` | on request: `[{t, dir, line}]`, the SMTP dialogue |',
    '',
    ...BEYOND_RFC_5321,
  ].join('\n');
}

/**
 * Why each address syntax is verified, let through or refused (src/core/address.ts). Every row
 * was put to Debian's Postfix 3.7 with its default settings as a MAIL FROM; the unit tests in
 * test/unit/core/address.test.ts hold each case.
 */
const BEYOND_RFC_5321 = [
  '## Addresses beyond RFC 5321',
  '',
  'cbv never refuses what real mail systems accept. A 5xx needs evidence that the address cannot',
  'receive mail, so on syntax alone cbv refuses only what Postfix itself refuses, or what no mail',
  'can reach; it verifies everything it can put on the wire, and lets through (`unverifiable`,',
  "`DUNNO`) what an MTA accepted but cbv cannot send. A policy server sees the sender in Postfix's",
  'internal, unquoted form: `MAIL FROM:<"john doe"@example.org>` arrives as `john doe@example.org`,',
  'so a local part that is neither a dot-string nor a quoted string is read as the content of one.',
  '',
  '| the address has | Postfix 3.7 (defaults) | cbv |',
  '| --- | --- | --- |',
  "| a local part over 64 octets (SRS, VERP, BATV senders) | accepts | verified; the verdict's message says it is beyond RFC 5321's 64 octets (4.5.3.1.1) |",
  "| a path over 256 octets | accepts, up to its 2048-octet command line | verified, with the same note, up to cbv's own bound of 1000 octets (RFC 5321's longest text line); beyond it `unverifiable` |",
  '| obsolete dots: `a..b`, `.a`, `a.` (real at Japanese mobile carriers) | accepts | verified, sent as the quoted string `"a..b"`, as Postfix sends it |',
  '| a quoted local part, in either form (`"john doe"`, `john doe`) | accepts | verified as `"john doe"@...`; `"john.doe"` is sent as `john.doe` (RFC 5321 4.1.2) |',
  '| an empty local part (`""@example.org`, which Postfix hands over as `@example.org`) | accepts | verified as `""@example.org` |',
  '| a control character in the local part (U+0001, DEL, C1), or U+FFFD (octets that were not UTF-8) | accepts U+0001 and DEL; refuses TAB | `unverifiable`: cbv never sends control characters |',
  '| NUL, CR or LF; an unpaired surrogate | cannot carry them | `invalid_syntax` |',
  '| a trailing dot (`example.org.`; also an ideographic or full-width stop, `bücher。example。`) | accepts (refuses the non-ASCII stops) | verified as `example.org` |',
  '| an underscore in a label, an `xn--` label that is not valid IDNA | accepts | verified: the DNS decides |',
  '| a U-label domain (`bücher.example`) | accepts with SMTPUTF8 | verified as its A-label `xn--bcher-kva.example` |',
  '| a source route in angle brackets (`<@relay.example:user@example.org>`, RFC 5321 4.1.2) | accepts, and hands over `user@example.org` | verified as `user@example.org` (RFC 5321 C: accept, ignore the route); without brackets, `@a:u@example.org` is Postfix\'s form of the quoted local part `"@a:u"` and verified as that |',
  '| an address literal spelled another way (`[IPv6:2001:DB8:0::1]`, `[IPV6:...]`) | accepts | verified as RFC 5952 writes it (`[IPv6:2001:db8::1]`), and matched so in every configured list |',
  '| an IPv4 literal with a leading zero (`[192.0.2.010]`) | accepts | `unverifiable`: octal (the C library) or decimal (a person)? cbv does not guess |',
  '| an empty label, a label over 63 octets, a leading or trailing hyphen, any character but letters, digits, `-` and `_`, a bad address literal (`[1.2.3]`, `[999.0.0.1]`, an IPv6 zone `%eth0`) | refuses (501 5.1.7 Bad sender address syntax) | `invalid_syntax` |',
  '| a name over 255 octets, an all-numeric top label (`a@x.123`) | refuses `a@192.0.2.1`, accepts `a@x.123` | `invalid_syntax`: the DNS cannot hold the first, and has no numeric top-level domain (RFC 1123 2.1), so no mail reaches either |',
  '| no `@` (`plain`) | accepts, as a local address | `invalid_syntax`: from a stranger, no reply can reach it |',
  '| no dot in the domain (`root@vm`, `a@localhost`) | accepts, as a local address | `invalid_syntax` by default (a policy choice, below); verified with `verify.allow_single_label_domains: true` |',
  '| `<>` or `< >` (how some MTAs and scripts write the null sender) | the null sender | skipped, as an empty `sender=` |',
  '| white space around a path or inside its brackets (`sender= <user@example.org>`, `user@example.org `, `< user@example.org >`) | (never hands it over) | verified as `user@example.org`; bare, a leading space is Postfix\'s form of the quoted local part `" user"` and verified as that |',
  '| unbalanced angle brackets | refuses | `invalid_syntax` |',
  '',
  'An address cbv verifies is then judged by its own MX: a `5.1.3` (bad address syntax) from the',
  "sender domain's MX is evidence, because that MX would refuse a reply to the address just the same.",
  '',
  '## Single-label domains: a policy choice',
  '',
  'A sender at a domain of one label (`root@vm`, `nagios@monitor`) is refused by default:',
  '`invalid_syntax`, which the decision table rejects (`550 5.1.7`), and the message names the key',
  'that changes it. From a stranger no reply can reach such a domain (RFC 5321 2.3.5 wants fully',
  "qualified names, and Postfix's `reject_non_fqdn_sender` refuses them too), so on a server that",
  'takes mail from the Internet it is evidence enough. A site whose internal hosts send as',
  '`root@vm` can accept them instead:',
  '',
  '```yaml',
  'verify:',
  '  allow_single_label_domains: true',
  '```',
  '',
  'Such a sender is then verified like any other: its MX (or its address, the implicit MX) is',
  'called back, and what that server says decides. When the DNS has no mail host for the name',
  '(NXDOMAIN, no MX and no address), that is no evidence against it (the name may live in a search',
  'domain or `/etc/hosts`): the verdict is `unverifiable` with the rule',
  '`local.single-label-unresolved`, and the policy server answers `DUNNO`. Cache lookups',
  '(`cbv cache get root@vm`, `GET /v1/cache/...`) take such addresses whatever the key says. Domain',
  'lists in the configuration (`service.skip_domains`, `policy.local_domains`, `service.routes`)',
  'still take fully qualified names only.',
  '',
  '`test/unit/cli/single-label.test.ts` runs both settings through `cbv verify` and the policy server.',
  '',
];

/** Markdown table cells cannot hold a bare pipe (regex alternations have many). */
const cell = (text: string): string => text.replace(/\|/g, '\\|');

export function classificationDoc(): string {
  const rows = RULES.map(
    (r) =>
      `| \`${r.id}\` | ${r.stages.join(', ')} | \`${cell(r.code.source)}\` | ${r.enhanced === undefined ? 'any' : r.enhanced === null ? 'none' : `\`${cell(r.enhanced.source)}\``} | ${r.text ? 'yes' : ''} | ${r.nullSender === undefined ? '' : r.nullSender ? '<>' : 'real'} | \`${r.outcome}\` | ${r.about ?? ''} | ${cell(r.why)} |`,
  );
  const sessionRows = Object.values(SESSION_RULES as Record<string, SessionRule>).map(
    (r) => `| \`${r.id}\` | \`${r.outcome}\` | ${r.about ?? ''} | ${cell(r.why)} |`,
  );
  return [
    '# Reply classification',
    '',
    `Rule table version \`${RULES_VERSION}\` (src/core/classify/rules.ts). The first matching rule wins; every verdict`,
    'names its rule. `code` and `enhanced` are regular expressions over the reply code and the RFC 3463',
    'enhanced status code ("none": the reply has none). `text`: the rule also matches the reply text, with',
    'echoed addresses masked so that a local part never reads as a statement (see',
    'src/core/classify/patterns.ts for the patterns). `sender`: only when we sent `MAIL FROM:<>` (`<>`) or a',
    'real sender. `about`: the rule knows the refusal is about us, our `client` host or our `helo` name; such',
    'a verdict teaches the domain fact `refuses_us` at any stage, and a `helo` verdict says that the HELO name',
    'was the reason. `retry_alone` retries the address in a transaction of its own; `inconclusive` (VRFY)',
    'falls back to RCPT; `recheck_sender` is explained below.',
    '',
    'Rules that read what a reply says come before the generic code classes of their stage (5.5.x at',
    'RCPT, any 5xx at MAIL, a plain 550), and each rule carries example replies: a unit test runs every',
    'example through the whole table and requires that its own rule wins, so no earlier rule shadows it.',
    'A reply with a clean code whose text holds control characters or invalid UTF-8 is read by its code',
    'and enhanced code: bytes that are not UTF-8 are kept as `\\xHH`, and whatever prints a reply escapes',
    'its controls (src/core/printable.ts).',
    '',
    '| rule | stages | code | enhanced | text | sender | outcome | about | why |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Decisions drawn from more than one reply',
    '',
    '| rule | outcome | about | why |',
    '| --- | --- | --- | --- |',
    ...sessionRows,
    '',
    '## A refusal of `MAIL FROM:<>` that does not say why',
    '',
    'A server that refuses `MAIL FROM:<>` may be refusing bounces (against RFC 5321 4.5.5), which makes',
    'every address of the domain `null_sender_rejected`, or it may be refusing *us* (our IP, network or',
    'HELO name) in words that do not say so, which says nothing about the address. A refusal that names',
    'the null sender (`<>:`, "null sender", "bounces not accepted", 5.1.7/5.1.8) is taken as it says; one',
    'that names us (block lists, reputation, HELO, SPF, 5.7.x) is `policy_rejected`. For the rest',
    '(`mail.null-sender-ambiguous`) cbv finds out instead of guessing: in the same session it sends',
    '`RSET` and `MAIL FROM:<postmaster@HELO name>` (`verify.recheck_sender`). Accepted: only the null sender',
    'is refused (`recheck.null-sender-only`). Refused too: the refusal is about us',
    '(`recheck.any-sender-refused`). With `verify.null_sender_recheck: false` the refusal is',
    '`policy_rejected` and never a refusal of bounces.',
    '',
    'After an accepted re-check cbv stops and does not go on to ask RCPT under the postmaster',
    'reverse-path: the verdict for every address of a domain that refuses bounces is decided by that',
    'refusal (the mail it would send could never be bounced back), so the answer to RCPT would change',
    'nothing; and an RCPT asked with a real sender is a different kind of callout (the remote side may',
    'count, greylist or call back that sender) that the operator did not choose with `verify.sender`.',
    '',
    'The domain fact `null_sender_rejected`, which answers for every address of the domain for a day, is',
    'learnt only from the rules that read the null sender itself (the `null_sender_rejected` rules above',
    'and `recheck.null-sender-only`); a stored fact from any other rule is not served, and the verdict',
    'served from the fact names the rule and the reply it was learnt from.',
    '',
  ].join('\n');
}

export function configDoc(): string {
  return [
    '# Configuration reference',
    '',
    'One YAML file (`cbv serve --config cbv.yaml`), validated once at start-up against a closed schema:',
    'an unknown key, a wrong type or a bad value stops start-up with one line naming the key, the value',
    'and what is allowed. `cbv config check FILE` validates a file; `cbv config defaults` prints this:',
    '',
    '```yaml',
    defaultsYaml().trimEnd(),
    '```',
    '',
  ].join('\n');
}

/** The docs as committed: generated, then formatted as `npm run format` would. */
export async function generatedDocs(): Promise<Record<string, string>> {
  const options = { ...(await resolveConfig('docs/verdicts.md')), parser: 'markdown' };
  return {
    'docs/verdicts.md': await format(verdictsDoc(), options),
    'docs/classification.md': await format(classificationDoc(), options),
    'docs/config.md': await format(configDoc(), options),
  };
}

if (process.argv[1]?.endsWith('gen-docs.ts')) {
  for (const [path, text] of Object.entries(await generatedDocs())) {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
