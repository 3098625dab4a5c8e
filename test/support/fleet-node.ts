/**
 * One `cbv serve` process of a test fleet: its own directory and config, the
 * policy server and HTTP API on free loopback ports (read back from its
 * `service.ready` log line), stopped (SIGTERM) or killed by PID, and
 * restartable with the same config.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, spawnDaemon, type Daemon } from './testbed/process.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface FleetNode {
  name: string;
  policy: { host: string; port: number };
  /** Base URL of the HTTP API. */
  http: string;
  /** The node's log lines, parsed. */
  events(): Record<string, unknown>[];
  stop(): Promise<void>;
  /** Stop (SIGTERM) and start again with the same config; ports change. */
  restart(): Promise<void>;
}

type Raw = Record<string, Record<string, unknown>>;

function hostPort(a: string): { host: string; port: number } {
  const colon = a.lastIndexOf(':');
  return { host: a.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(a.slice(colon + 1)) };
}

export async function startFleetNode(name: string, parent: string, config: Raw): Promise<FleetNode> {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'cbv.yaml');
  // JSON is YAML.
  writeFileSync(file, JSON.stringify({ ...config, service: { ...config.service, data_dir: dir } }));
  let daemon: Daemon;
  let generation = 0;
  const node: FleetNode = {
    name,
    policy: { host: '127.0.0.1', port: 0 },
    http: '',
    events: () => [],
    stop: () => Promise.resolve(),
    restart: () => Promise.resolve(),
  };
  const launch = async (): Promise<void> => {
    generation++;
    daemon = spawnDaemon({
      name: `${name}-${generation}`,
      command: process.execPath,
      args: ['--import', TSX, MAIN, 'serve', '--config', file],
      dir,
    });
    const events = (): Record<string, unknown>[] =>
      readFileSync(daemon.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = events().find((e) => e.event === 'service.ready');
      if (ready) {
        const fe = ready.frontends as Record<string, string[]>;
        node.policy = hostPort(fe.policy?.[0] ?? '');
        node.http = `http://${fe.http?.[0] ?? ''}`;
        break;
      }
      const status = daemon.exitStatus();
      if (status || Date.now() > deadline)
        throw new Error(`${name}: not ready (${status ?? 'timeout'})\n${daemon.logTail(30)}`);
      await sleep(100);
    }
    node.events = events;
  };
  await launch();
  node.stop = () => daemon.stop();
  node.restart = async () => {
    await daemon.stop();
    await launch();
  };
  return node;
}
