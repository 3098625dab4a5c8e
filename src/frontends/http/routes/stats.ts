/**
 * Statistics: the WcSAP-style statistics table over a range of days (the very report
 * `cbv stats` prints, so the dashboard and the CLI agree), and the series of
 * verdicts by result for the dashboard's chart.
 */
import * as z from 'zod';
import { buildReport } from '../../../stats/report.js';
import type { Counts } from '../../../stats/stats-store.js';
import { route, type ApiRoute } from '../api-route.js';
import { invalid } from '../errors.js';
import { RESULTS, dayText, statsReportSchema } from '../schemas.js';
import type { HttpServices } from '../services.js';

const TAG = 'stats';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function checkDay(field: string, day: string): string {
  if (Number.isNaN(Date.parse(`${day}T00:00:00Z`))) throw invalid(field, `${field}: '${day}' is not a date`);
  return day;
}

const pointSchema = z.object({
  at: z.string().describe('Start of the hour or day (ISO 8601, UTC).'),
  ...Object.fromEntries(RESULTS.map((r) => [r, z.number().int()])),
});

/** Every bucket in the window, oldest first, zero where nothing was counted. */
function fill(keys: string[], found: Map<string, Counts>, at: (key: string) => string) {
  return keys.map((key) => {
    const counts = found.get(key) ?? {};
    return {
      at: at(key),
      ...Object.fromEntries(RESULTS.map((r) => [r, counts[`result.${r}`] ?? 0])),
    };
  });
}

export function statsRoutes(s: HttpServices): ApiRoute[] {
  return [reportRoute(s), seriesRoute(s)];
}

const scope = z
  .enum(['node', 'fleet'])
  .default('node')
  .describe("node: this node's counters; fleet: every node's, summed in Redis (fleet mode only).");

/** The counters asked for: this node's, or the fleet's (400 on a single node). */
function source(s: HttpServices, which: 'node' | 'fleet') {
  if (which === 'node') return s.verifier.stats;
  if (!s.fleetStats) throw invalid('scope', 'scope: fleet needs cache.backend redis (fleet mode)');
  return s.fleetStats;
}

function reportRoute(s: HttpServices): ApiRoute {
  return route({
    method: 'GET',
    path: '/v1/stats',
    tag: TAG,
    summary: 'The statistics table',
    description: 'Counters summed over UTC days [since, until], with percentages; both default to today.',
    access: 'token',
    querystring: z.strictObject({ since: dayText.optional(), until: dayText.optional(), scope }),
    responses: { 200: { description: 'The table.', schema: statsReportSchema } },
    handle: async ({ query }) => {
      const today = new Date(s.now()).toISOString().slice(0, 10);
      const since = checkDay('since', query.since ?? today);
      const until = checkDay('until', query.until ?? today);
      if (since > until) throw invalid('since', `since: ${since} is after until ${until}`);
      const stats = source(s, query.scope);
      const report = buildReport(await stats.sum(since, until), since, until);
      const fleet = s.fleetStats !== null;
      if (query.scope === 'node') return { ...report, scope: query.scope, fleet };
      return { ...report, scope: query.scope, fleet, nodes: await s.fleetStats?.nodes(since, until) };
    },
  });
}

function seriesRoute(s: HttpServices): ApiRoute {
  return route({
    method: 'GET',
    path: '/v1/stats/series',
    tag: TAG,
    summary: 'Verdicts by result over time',
    description: 'The last `count` hours or days (UTC), the current one included, oldest first.',
    access: 'token',
    querystring: z.strictObject({
      granularity: z.enum(['hour', 'day']).default('hour'),
      count: z.number().int().min(1).max(400).default(48).describe('How many hours or days.'),
      scope,
    }),
    responses: {
      200: {
        description: 'The series.',
        schema: z.object({ granularity: z.enum(['hour', 'day']), points: z.array(pointSchema) }),
      },
    },
    handle: async ({ query }) => {
      const stats = source(s, query.scope);
      const step = query.granularity === 'hour' ? HOUR_MS : DAY_MS;
      const width = query.granularity === 'hour' ? 13 : 10; // YYYY-MM-DDTHH or YYYY-MM-DD
      const now = s.now();
      const keys = Array.from({ length: query.count }, (_, i) =>
        new Date(now - (query.count - 1 - i) * step).toISOString().slice(0, width),
      );
      const first = keys[0] ?? '';
      const last = keys[keys.length - 1] ?? '';
      const found = new Map<string, Counts>(
        query.granularity === 'hour'
          ? (await stats.perHour(first, last)).map((h) => [h.hour, h.counts])
          : (await stats.perDay(first, last)).map((d) => [d.day, d.counts]),
      );
      const at = (key: string): string =>
        query.granularity === 'hour' ? `${key}:00:00Z` : `${key}T00:00:00Z`;
      return { granularity: query.granularity, points: fill(keys, found, at) };
    },
  });
}
