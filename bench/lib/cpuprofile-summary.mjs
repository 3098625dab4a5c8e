// Summarises a .cpuprofile by category: where a policy request's CPU time goes.
//   node bench/lib/cpuprofile-summary.mjs FILE.cpuprofile
import { readFileSync } from 'node:fs';
import { sourceOf } from './bundle-source.mjs';

const profile = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const time = new Map();
profile.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const categories = [
  ['idle (waiting in epoll; kernel work on this CPU shows up here too)', (f) => f === '(idle)'],
  ['socket writes (write(2) on the policy connection)', (f) => f === 'writeUtf8String' || f === 'writev'],
  ['log writes (write(2) to stdout)', (f) => f === 'writeString' || f === 'writeBuffer'],
  ['garbage collection', (f) => f === '(garbage collector)'],
  ['logging (pino: serialising JSON lines)', (f, u) => /pino|sonic-boom|logger\.js|log-observer/.test(u)],
  ['policy protocol (reader, server, decider)', (f, u) => /frontends\/policy\//.test(u)],
  [
    'verifier, cache, stats, telemetry',
    (f, u) => /service\/|cache\/|stats\/|limits\/|observability\//.test(u),
  ],
  ['address parsing', (f, u) => /core\/address/.test(u)],
  [
    'Node streams, timers, promises',
    (f, u) => /^node:/.test(u) || f === 'runMicrotasks' || f === '(program)',
  ],
];
const totals = new Map(categories.map(([name]) => [name, 0]));
let other = 0;
let all = 0;
for (const node of profile.nodes) {
  const t = time.get(node.id) ?? 0;
  all += t;
  const { functionName: f, lineNumber, columnNumber } = node.callFrame;
  // The build is bundled (scripts/build.mjs): categorise by the source file, not the chunk.
  const u = sourceOf(node.callFrame.url, lineNumber, columnNumber).url;
  const hit = categories.find(([, match]) => match(f || '(anon)', u));
  if (hit) totals.set(hit[0], totals.get(hit[0]) + t);
  else other += t;
}
for (const [name, t] of [...totals, ['other', other]])
  console.log(`${((t / all) * 100).toFixed(1).padStart(5)}%  ${name}`);
