/**
 * `cbv verify` with connection facts (--client-ip, --client-helo, --client-name, --sasl-user):
 * each address is the envelope sender of a connection with those facts, and the answer is the
 * service's, from the one decision path the policy server and the HTTP API share (skip rules,
 * SPF first, then the callout, then policy.decisions). Printed as the decision beside the
 * verdict: a table, or JSON lines in the HTTP API's shape.
 */
import { printable, safeJson } from '../../core/index.js';
import { answerRecord, type Answer } from '../../service/answer.js';
import { normaliseClientIp, type RequestInput } from '../../service/request.js';
import { describeSource } from '../../config/locate.js';
import { UsageError } from './cli-errors.js';
import { EXIT } from './exit-codes.js';
import { alignColumns, formatTranscript, replySummary } from './format.js';
import type { VerifyArgs, VerifyCommandDeps } from './verify-command.js';

/** What the flags say about the SMTP client; absent facts are null. */
export interface Connection {
  clientIp: string | null;
  helo: string | null;
  clientHostname: string | null;
  saslUser: string | null;
}

/** The service's decision path as `cbv verify` uses it. */
export interface DecisionRunner {
  decide(request: RequestInput, opts: { transcript: boolean }): Promise<Answer>;
  close(): Promise<void>;
  /** Which cache it reads and writes, for the stderr line. */
  cacheDescription: string;
}

type Flags = Partial<Record<'client-ip' | 'client-helo' | 'client-name' | 'sasl-user', string>>;

/** The connection the flags describe, or null when none of them is given (a bare callout). */
export function connectionFromFlags(values: Flags): Connection | null {
  const ip = values['client-ip'];
  const helo = values['client-helo'];
  const name = values['client-name'];
  const sasl = values['sasl-user'];
  if (ip === undefined && helo === undefined && name === undefined && sasl === undefined) return null;
  let clientIp: string | null = null;
  if (ip !== undefined) {
    clientIp = normaliseClientIp(ip);
    if (clientIp === null) throw new UsageError(`--client-ip: '${ip}' is not an IPv4 or IPv6 address`);
  }
  for (const [flag, value] of [
    ['--client-helo', helo],
    ['--client-name', name],
    ['--sasl-user', sasl],
  ] as const) {
    if (value !== undefined && value.trim() === '') throw new UsageError(`${flag}: empty`);
  }
  return { clientIp, helo: helo ?? null, clientHostname: name ?? null, saslUser: sasl ?? null };
}

/**
 * In warn mode the policy server applies none of these actions: it answers WARN with the reply it
 * would have given, and Postfix logs it. The table still shows the action enforce mode would take
 * (what the rollout is watching for), and the note says so, so that "reject" is not read as what
 * the mail server does today.
 */
function warnMode(args: VerifyArgs): string {
  return args.config.policy.mode === 'warn'
    ? ' in enforce mode (policy.mode is warn: the policy server only logs these actions, as "cbv would have replied")'
    : '';
}

/** Exit status from the decisions: a rejection first, then a deferral (docs/cli.md). */
function exitForDecisions(answers: readonly Answer[]): number {
  if (answers.some((a) => a.decision === 'reject')) return EXIT.undeliverable;
  if (answers.some((a) => a.decision === 'defer')) return EXIT.unknown;
  return EXIT.ok;
}

export async function runDecisions(
  args: VerifyArgs,
  connection: Connection,
  deps: VerifyCommandDeps,
): Promise<number> {
  const runner = await deps.buildDecider(args.config, args.cache);
  deps.note(
    `${describeSource(args.source)}, ${runner.cacheDescription}; deciding as the policy server would${warnMode(args)}`,
  );
  const answers: Answer[] = [];
  let failures = 0;
  try {
    for (const address of args.addresses) {
      let answer: Answer;
      try {
        answer = await runner.decide(
          { sender: address, ...connection, stage: 'mail' },
          { transcript: args.trace },
        );
        if (!answer.verdict) throw new Error('no verdict (the fail-safe answered)');
      } catch (error) {
        failures++;
        deps.warn?.(
          `cbv: internal error verifying ${address}: ${error instanceof Error ? error.message : String(error)}`,
        );
        continue;
      }
      answers.push(answer);
      if (args.json) deps.out(safeJson(answerRecord(answer)));
      else if (args.trace) deps.out(formatTranscript(answer.verdict));
    }
  } finally {
    await runner.close();
  }
  if (!args.json) deps.out(formatDecisions(answers));
  if (failures > 0 || answers.length !== args.addresses.length) return EXIT.software;
  return exitForDecisions(answers);
}

/** The reply a mail server would give, or (as the bare table has it) what the verdict rests on. */
function replyCell(a: Answer): string {
  if (a.reply) return `${a.reply.code} ${a.reply.enhanced} ${a.reply.text}`;
  return a.verdict ? replySummary(a.verdict) : '-';
}

/** One row per sender: the decision first (what the mail server does), then the verdict behind it. */
export function formatDecisions(answers: readonly Answer[]): string {
  // REPLY / DETAIL last, as in the bare table: a message is never cut to fit a column after it.
  const header = ['ADDRESS', 'ACTION', 'SPF', 'RESULT', 'REASON', 'RULE', 'MS', 'REPLY / DETAIL'];
  const rows = answers.map((a) => {
    const v = a.verdict;
    return [
      v?.address ?? '-',
      a.decision + (a.skipped ? ' (no callout)' : ''),
      v?.spf ? v.spf.result : '-',
      v ? v.result + (v.temporary ? ' (temp)' : '') + (v.cache.hit ? ' (cached)' : '') : '-',
      v?.reason ?? '-',
      v?.rule ?? '-',
      String(v?.durationMs ?? 0),
      replyCell(a),
    ].map(printable);
  });
  return alignColumns(header, rows);
}
