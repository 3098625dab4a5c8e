/**
 * The API's response shapes and shared request pieces, as zod schemas. The
 * request schemas are what validates requests (through their JSON Schema, see
 * api-route.ts); all of them are what /openapi.json documents. The
 * `satisfies` clauses tie each shape to the service type it describes, so a
 * change there fails the type check here rather than silently in the docs.
 */
import * as z from 'zod';
import { ENGINE_REASONS, type Stage } from '../../core/index.js';
import type { AddressEntry, DomainFact } from '../../cache/verdict-cache.js';
import { DECISIONS, answerRecord, type Answer, type DecisionView, type Reply } from '../../service/answer.js';
import { SPF_RESULTS } from '../../service/spf/outcome.js';
import type { RecentDecision } from '../../service/recent-activity.js';
import { SERVICE_REASONS_EXTRA, type ServiceVerdict } from '../../service/verdict.js';
import type { StatsReport } from '../../stats/report.js';

export const RESULTS = ['deliverable', 'undeliverable', 'risky', 'unknown'] as const;
const FACTS = ['catch_all', 'null_sender_rejected', 'refuses_us', 'unreachable'] as const;
const STAGES = [
  'dns',
  'connect',
  'greeting',
  'ehlo',
  'helo',
  'starttls',
  'mail',
  'rcpt_random',
  'rcpt',
  'vrfy',
  'quit',
] as const satisfies readonly Stage[];
/** Fails to compile when the core gains a stage this list lacks. */
const _stagesComplete: [Exclude<Stage, (typeof STAGES)[number]>] extends [never] ? true : never = true;

/**
 * Longest address taken, in characters: Postfix's command line (line_length_limit, 2048). cbv
 * verifies paths up to its own bound (MAX_PATH_OCTETS, 1000: SRS and VERP senders go beyond
 * RFC 5321's 256) and answers `unverifiable` beyond it, so any sender an MTA can hand over gets
 * the verdict the policy server would give it, not an error.
 */
export const MAX_ADDRESS_CHARS = 2048;
export const addressText = z
  .string()
  .min(1)
  .max(MAX_ADDRESS_CHARS)
  .describe('A mail address, e.g. alice@example.org.');
export const dayText = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .describe('A UTC day as YYYY-MM-DD.');

export const errorSchema = z
  .object({
    error: z.string().describe('A stable code: invalid_request, unauthorized, rate_limited, not_found, ...'),
    message: z.string(),
    field: z.string().optional().describe('The request field at fault, for invalid_request.'),
    retryAfterSeconds: z.number().int().optional().describe('For rate_limited: when to retry.'),
  })
  .describe('An error.');

const attemptSchema = z.object({
  host: z.string(),
  ip: z.string(),
  reason: z.enum(ENGINE_REASONS),
  rule: z.string(),
  stage: z.enum(STAGES).nullable(),
});

const transcriptLineSchema = z.object({
  t: z.number().describe('Milliseconds since the verification started.'),
  dir: z.enum(['C', 'S', '*']).describe('C: cbv sent, S: the server sent, *: a note.'),
  line: z.string(),
});

const spfOutcomeSchema = z
  .object({
    result: z.enum(SPF_RESULTS),
    identity: z
      .enum(['mailfrom', 'helo'])
      .describe('mailfrom: the sender domain; helo: the HELO name (null sender).'),
    domain: z.string().describe('The domain whose SPF record was evaluated.'),
    clientIp: z.string(),
    comment: z.string().describe('Why: the mechanism that matched, or the problem.'),
    cached: z.boolean(),
  })
  .describe('The SPF check (RFC 7208) of the client the request named, when it named one.');

export const verdictSchema = z
  .object({
    address: z.string(),
    domain: z.string(),
    result: z.enum(RESULTS),
    reason: z.enum([...ENGINE_REASONS, ...SERVICE_REASONS_EXTRA]),
    temporary: z.boolean().describe('True when asking again later may give another answer.'),
    rule: z
      .string()
      .describe('The rule that decided: a classification rule id, local.*, service.* or cache.*.'),
    message: z.string(),
    mx: z.object({ host: z.string(), ip: z.string(), preference: z.number() }).nullable(),
    smtp: z
      .object({
        stage: z.enum(STAGES),
        code: z.number().int(),
        enhancedCode: z.string().nullable(),
        text: z.string(),
      })
      .nullable()
      .describe('The reply that decided, when one did.'),
    catchAllProbe: z.boolean().nullable(),
    probePunished: z
      .boolean()
      .optional()
      .describe('An MX of the domain ended the session after refusing the random (catch-all) probe.'),
    durationMs: z.number(),
    attempts: z.array(attemptSchema),
    cache: z.object({
      hit: z.boolean(),
      fact: z.enum(FACTS).nullable(),
      ageSeconds: z.number().nullable(),
    }),
    transcript: z.array(transcriptLineSchema).optional(),
    spf: spfOutcomeSchema.optional(),
  })
  .describe('A verdict: what cbv concluded about one address, and why.') satisfies z.ZodType<ServiceVerdict>;

/** A client IP as a front-end may be given it: IPv4, IPv6 (IPv4-mapped too), optionally bracketed. */
export const clientIpText = z
  .string()
  .max(64)
  .regex(/^\[?(IPv6:)?[0-9A-Fa-f:.]{2,45}(%[\w.-]{1,16})?\]?$/, 'an IPv4 or IPv6 address')
  .describe(
    'The IP address of the SMTP client that offered the message (IPv4-mapped IPv6 is read as IPv4). ' +
      'With it, SPF can answer for the sender and save the callout.',
  );
/** A HELO/EHLO argument: a host name or an address literal, as clients send it. */
export const heloText = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'a host name or address literal, as given in HELO')
  .describe('The name the SMTP client gave in HELO/EHLO (the SPF identity for the null sender).');

/** The client's verified reverse DNS name (Postfix's client_name), as a mail server has it. */
export const clientNameText = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'a host name')
  .describe(
    "The SMTP client's verified reverse DNS name (Postfix's client_name), when the mail server knows it.",
  );
/** The name the client authenticated as (SMTP AUTH, RFC 4954). */
export const saslUserText = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\x00-\x1f\x7f]+$/, 'a login name without control characters')
  .describe(
    'The name the SMTP client authenticated as (SMTP AUTH): its senders are not verified, as in the policy server.',
  );

export const replySchema = z.object({
  code: z.number().int().describe('The SMTP reply code (RFC 5321), e.g. 550.'),
  enhanced: z.string().describe('The enhanced status code (RFC 3463), e.g. 5.1.7.'),
  text: z.string().describe('The reply text, without the address.'),
}) satisfies z.ZodType<Reply>;

export const decisionSchema = z
  .object({
    action: z
      .enum(DECISIONS)
      .describe('reject (5xx), defer (4xx) or dunno (no opinion), from the configured decision table.'),
    reply: replySchema.nullable().describe('The reply a mail server should give, for reject and defer.'),
    skipped: z.boolean().describe('True when the sender was not called out (skip rules, SPF).'),
    headers: z.array(z.string()).describe('Header fields to add to the message (e.g. Received-SPF).'),
  })
  .describe(
    'What a mail server should do with the message, as the policy server would answer.',
  ) satisfies z.ZodType<DecisionView>;

export const answerSchema = verdictSchema
  .extend({ decision: decisionSchema })
  .describe('A verdict, and what the shared decision table makes of it.');

/** The HTTP view of the service's answer: its verdict, with the decision beside it. */
export function answerView(a: Answer): z.infer<typeof answerSchema> {
  return answerRecord(a);
}

const iso = z.string().describe('An ISO 8601 time.');
const storedVerdict = verdictSchema.omit({ transcript: true });

export const cacheEntrySchema = z.object({
  verdict: storedVerdict,
  storedAt: iso,
  expiresAt: iso,
  refreshAt: iso.nullable(),
});

export const domainFactSchema = z.object({
  domain: z.string(),
  kind: z.enum(FACTS),
  verdict: storedVerdict,
  storedAt: iso,
  expiresAt: iso,
});

const isoTime = (ms: number): string => new Date(ms).toISOString();

export function entryView(e: AddressEntry): z.infer<typeof cacheEntrySchema> {
  return {
    verdict: e.verdict,
    storedAt: isoTime(e.storedAt),
    expiresAt: isoTime(e.expiresAt),
    refreshAt: e.refreshAt === null ? null : isoTime(e.refreshAt),
  };
}

export function factView(f: DomainFact): z.infer<typeof domainFactSchema> {
  const { domain, kind, verdict } = f;
  return { domain, kind, verdict, storedAt: isoTime(f.storedAt), expiresAt: isoTime(f.expiresAt) };
}

const statsRowSchema = z.object({
  key: z.string(),
  label: z.string(),
  depth: z.number().int().describe('0: a top-level row; 1: a detail of the row above.'),
  value: z.number().int(),
  percent: z.number().nullable().describe('Percentage of the row named by `of`, two decimals.'),
  of: z.string().nullable(),
});

export const statsReportSchema = z
  .object({
    since: z.string(),
    until: z.string(),
    rows: z.array(statsRowSchema),
    reasons: z.array(statsRowSchema),
    scope: z
      .enum(['node', 'fleet'])
      .optional()
      .describe('Whose counters: this node, or every node of the fleet (summed in Redis).'),
    fleet: z.boolean().optional().describe('Whether this node is in a fleet (scope=fleet is available).'),
    nodes: z.array(z.string()).optional().describe('scope=fleet: the nodes that counted in the range.'),
  })
  .describe('The statistics table (as `cbv stats` prints it).') satisfies z.ZodType<StatsReport>;

export const recentDecisionSchema = z.object({
  id: z.number().int(),
  at: iso,
  address: z.string(),
  result: z.string(),
  reason: z.string(),
  rule: z.string(),
  durationMs: z.number(),
  cached: z.boolean(),
  fact: z.string().nullable(),
  action: z.string().nullable().describe('What a front-end did with the verdict (a policy action).'),
  frontend: z.string().nullable(),
  hasTranscript: z.boolean(),
}) satisfies z.ZodType<RecentDecision>;

export const transcriptSchema = z.object({
  id: z.number().int(),
  address: z.string(),
  at: iso.describe('When the callout behind the transcript ended.'),
  lines: z.array(transcriptLineSchema),
});

export const removedSchema = z.object({ removed: z.number().int().describe('Entries removed.') });
