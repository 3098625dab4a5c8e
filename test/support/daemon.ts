/** The daemon in-process for tests: memory cache, loopback front-ends on free ports, silent logs. */
import { startDaemon, type Daemon } from '../../src/app/daemon.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';

type Raw = Record<string, Record<string, unknown>>;

/** Deep-merge plain objects (arrays and scalars replace). */
function merge(base: Raw, extra: Raw): Raw {
  const out: Raw = { ...base };
  for (const [section, values] of Object.entries(extra))
    out[section] = { ...(base[section] ?? {}), ...values };
  return out;
}

export interface TestDaemon extends Daemon {
  /** host and port of the first policy listener. */
  policy: { host: string; port: number };
}

export async function startTestDaemon(raw: Raw = {}): Promise<TestDaemon> {
  const config = parseConfig(
    merge(
      {
        verify: { allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
        cache: { backend: 'memory' },
        policy: { listen: ['127.0.0.1:0'] },
        http: { enabled: false },
        logging: { level: 'silent' },
      },
      raw,
    ),
    'test config',
  );
  const daemon = await startDaemon(config, createLogger(config.logging.level));
  const first = daemon.listening.policy?.[0] ?? '127.0.0.1:0';
  const colon = first.lastIndexOf(':');
  return { ...daemon, policy: { host: first.slice(0, colon), port: Number(first.slice(colon + 1)) } };
}
