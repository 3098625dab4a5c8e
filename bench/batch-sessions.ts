/**
 * Sessions and RCPTs a remote MX sees for N addresses of one domain: one
 * verification each, against one batch (VerificationEngine.verifyBatch).
 *
 *   node --import tsx bench/batch-sessions.ts [--sizes 1,4,7,8,16,32]
 *
 * A real Postfix of the test bed (test/support/testbed, on 127.0.1.x) answers:
 * half the addresses exist, half do not, so half the RCPTs are errors in
 * Postfix's count. Sessions and RCPTs are counted from cbv's own transcripts;
 * verdicts are checked against the known answers. Engine defaults
 * (max_rcpt_per_session 8, catch-all probe on), DNS from the test bed's Unbound.
 */
import { parseArgs } from 'node:util';
import { NodeDnsResolver, TcpConnector, VerificationEngine, type EngineVerdict } from '../src/core/index.js';
import { engineOptions } from '../src/config/engine-options.js';
import { parseConfig } from '../src/config/load.js';
import { NAMES, startMailTestbed } from '../test/support/testbed/index.js';
import { table, writeResult } from './lib/report.js';
import { machine } from './lib/stats.js';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1,4,7,8,16,32' } } });
const sizes = values.sizes.split(',').map(Number);

function count(verdicts: readonly EngineVerdict[]): { sessions: number; rcpts: number } {
  // A batch's verdicts share one transcript: count it once.
  const seen = new Set<unknown>();
  let sessions = 0;
  let rcpts = 0;
  for (const v of verdicts) {
    const t = v.transcript ?? [];
    if (seen.has(t[0])) continue;
    seen.add(t[0]);
    sessions += t.filter((l) => l.dir === '*' && l.line.startsWith('connected to')).length;
    rcpts += t.filter((l) => l.dir === 'C' && l.line.startsWith('RCPT')).length;
  }
  return { sessions, rcpts };
}

const bed = await startMailTestbed();
try {
  const config = parseConfig(
    { verify: { port: bed.smtpPort, allow_targets: ['127.0.0.0/8'], helo_name: 'bench.test' } },
    'bench',
  );
  const resolver = new NodeDnsResolver({ servers: [bed.dns.server], queryTimeoutMs: 1500, tries: 1 });
  const engine = new VerificationEngine(engineOptions(config), { resolver, connector: new TcpConnector() });
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  for (const n of sizes) {
    const addresses = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'alice' : `nobody${i}`)).map(
      (l) => `${l}@${NAMES.ok}`,
    );
    const expected = addresses.map((a) => (a.startsWith('alice') ? 'accepted' : 'user_unknown'));
    let t = performance.now();
    const singles: EngineVerdict[] = [];
    for (const a of addresses) singles.push(await engine.verify(a, { transcript: true, waitForClose: true }));
    const singleMs = performance.now() - t;
    t = performance.now();
    const batch = await engine.verifyBatch(addresses, { transcript: true, waitForClose: true });
    const batchMs = performance.now() - t;
    const wrong = [...singles, ...batch].filter((v, i) => v.reason !== expected[i % n]).length;
    const one = count(singles);
    const many = count(batch);
    rows.push([
      n,
      one.sessions,
      many.sessions,
      one.rcpts,
      many.rcpts,
      Math.round(singleMs),
      Math.round(batchMs),
      wrong,
    ]);
    results.push({ n, singles: { ...one, ms: singleMs }, batch: { ...many, ms: batchMs }, wrong });
  }
  await engine.idle();
  console.log(`machine: ${JSON.stringify(machine())}`);
  console.log(
    table(
      [
        'addresses',
        'sessions, one each',
        'sessions, batch',
        'RCPTs, one each',
        'RCPTs, batch',
        'ms, one each',
        'ms, batch',
        'wrong answers',
      ],
      rows,
    ),
  );
  console.log(`wrote ${writeResult('batch-sessions', { results })}`);
} finally {
  await bed.stop();
}
