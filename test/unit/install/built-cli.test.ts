/**
 * The built cbv (scripts/build.mjs's bundle in dist/, run by plain node, as the systemd unit and
 * `npm start` run it) does what the source does: `--help`, `--version`, `verify --json` against a
 * loopback server, and `serve` with its dashboard. And each command loads only what it needs
 * (issue 14: start-up time): which files a run loaded is recorded by test/support/record-modules.mjs,
 * and which source files and packages each bundled chunk holds is read from dist/meta.json (esbuild's
 * metafile), so a static import that drags the config schema (zod) into `--help`, or the daemon's
 * packages into `verify`, fails here. Built in a scratch copy (node_modules linked), so the dist/
 * other tests may use is not touched.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { REPO, scratchCopy } from '../../support/scratch-copy.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { hostPort, startServeChild, writeLoopbackConfig } from '../../support/serve-child.js';

interface Meta {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

let dir: string;
let meta: Meta;
let mx: ScriptedServer;
let scratch: string;
before(
  async () => {
    dir = scratchCopy({ linkModules: true });
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, stdio: 'pipe' });
    meta = JSON.parse(readFileSync(join(dir, 'dist/meta.json'), 'utf8')) as Meta;
    scratch = mkdtempSync(join(tmpdir(), 'cbv-built-cli-'));
    mx = await startScriptedServer({
      replies: { RCPT: (line) => [/<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 unknown\r\n'] },
    });
  },
  { timeout: 120_000 },
);
after(() => mx.close());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Every file the run loaded, as paths relative to the scratch copy (dist/..., node_modules/...). */
  loaded: string[];
}

let runs = 0;
/** `node dist/main.js ARGS` in the scratch copy, recording the modules it loads. */
function built(args: string[]): Promise<Run> {
  const log = join(scratch, `modules-${++runs}.log`);
  writeFileSync(log, '');
  const recorder = join(REPO, 'test/support/record-modules.mjs');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', recorder, join(dir, 'dist/main.js'), ...args],
      // A configuration of its own (no /etc/cbv/cbv.yaml, no ./data of this machine).
      { cwd: scratch, env: { ...process.env, CBV_MODULE_LOG: log, CBV_CONFIG: '' }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const loaded = readFileSync(log, 'utf8')
          .split('\n')
          .filter((url) => url.startsWith('file:'))
          .map((url) => fileURLToPath(url))
          .filter((path) => path.startsWith(`${dir}/`) || path.startsWith(`${REPO}/`))
          .map((path) => path.slice(path.startsWith(`${dir}/`) ? dir.length + 1 : REPO.length + 1))
          .filter((path) => path !== 'test/support/record-modules.mjs');
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, loaded: [...new Set(loaded)] });
      },
    );
  });
}

/** The packages a run loaded from node_modules, and the source files inside the chunks it loaded. */
function contents(run: Run): { packages: Set<string>; sources: Set<string> } {
  const packages = new Set<string>();
  const sources = new Set<string>();
  const note = (path: string): void => {
    const pkg = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (pkg?.[1]) packages.add(pkg[1]);
    else sources.add(path);
  };
  for (const path of run.loaded) {
    const chunk = meta.outputs[path];
    if (chunk) for (const input of Object.keys(chunk.inputs)) note(input);
    else note(path);
  }
  return { packages, sources };
}

/** Packages and sources only the daemon, a cache, a fleet or SPF need: never a bare `cbv verify`. */
const DAEMON_PACKAGES = ['pino', 'fastify', 'prom-client', 'ioredis', 'better-sqlite3', 'mailauth', 'yaml'];

const verifyArgs = (): string[] => [
  'verify',
  '--json',
  '--no-cache',
  '--port',
  String(mx.port),
  '--allow-target',
  '127.0.0.0/8',
  '--helo',
  'built.test',
];

describe('the built cli (dist/, bundled)', { timeout: 120_000 }, () => {
  it('--help prints the usage and loads neither the config schema (zod) nor any package', async () => {
    const run = await built(['--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^usage: cbv <command> \[options\]\n/);
    const { packages, sources } = contents(run);
    assert.deepEqual([...packages], [], `--help loaded packages: ${[...packages].join(', ')}`);
    for (const source of ['src/config/schema.ts', 'src/config/load.ts'])
      assert.equal(sources.has(source), false, `--help loaded ${source}`);
    assert.ok(sources.has('src/main.ts'), 'the recorder saw main.ts (it records what runs)');
  });

  it('a usage error is answered without the config schema either', async () => {
    const run = await built(['frobnicate']);
    assert.equal(run.code, 64);
    assert.equal(run.stderr, "cbv: unknown command 'frobnicate' (try 'cbv --help')\n");
    assert.equal(contents(run).packages.has('zod'), false);
  });

  it('--version prints the version of the package.json above dist/', async () => {
    const run = await built(['--version']);
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    assert.equal(run.stdout, `cbv ${version}\n`);
  });

  it('verify --json gives the verdict, and loads none of the daemon, cache or SPF packages', async () => {
    const run = await built([...verifyArgs(), 'alice@[127.0.0.1]', 'mallory@[127.0.0.1]']);
    assert.equal(run.code, 1, run.stderr);
    const verdicts = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { address: string; result: string; reason: string });
    assert.deepEqual(
      verdicts.map((v) => [v.address, v.result, v.reason]),
      [
        ['alice@[127.0.0.1]', 'deliverable', 'accepted'],
        ['mallory@[127.0.0.1]', 'undeliverable', 'user_unknown'],
      ],
    );
    const { packages, sources } = contents(run);
    assert.ok(packages.has('zod'), 'verify validates its flags with the config schema');
    for (const pkg of DAEMON_PACKAGES) assert.equal(packages.has(pkg), false, `verify loaded ${pkg}`);
    const daemonOnly = [...sources].filter((s) =>
      /^src\/(frontends\/(http|policy)|cache|stats|redis)\//.test(s),
    );
    assert.deepEqual(daemonOnly, [], 'verify loaded daemon-only sources');
  });

  it('verify --cache loads SQLite (the recorder sees the packages a command does load)', async () => {
    const run = await built([
      ...verifyArgs().filter((a) => a !== '--no-cache'),
      '--cache',
      join(scratch, 'c.sqlite'),
      'alice@[127.0.0.1]',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const { packages } = contents(run);
    assert.ok(packages.has('better-sqlite3'), [...packages].join(', '));
    for (const pkg of ['pino', 'fastify', 'mailauth'])
      assert.equal(packages.has(pkg), false, `loaded ${pkg}`);
  });

  it('serve starts from dist/: /healthz, the dashboard page and its assets, the version in /openapi.json', async () => {
    const data = mkdtempSync(join(tmpdir(), 'cbv-built-serve-'));
    const config = writeLoopbackConfig(data);
    const daemon = await startServeChild(['--config', config], {
      built: join(dir, 'dist/main.js'),
      cwd: data,
    });
    try {
      const { host, port } = hostPort(daemon.listening.http?.[0] ?? '');
      const base = `http://${host}:${port}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      assert.equal((await fetch(`${base}/assets/style.css`)).status, 200);
      assert.equal((await fetch(`${base}/assets/vendor/uPlot.esm.js`)).status, 200);
      const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
      const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { info: { version: string } };
      assert.equal(openapi.info.version, version);
    } finally {
      assert.equal(await daemon.stop(), 0, daemon.stderr());
    }
  });

  // Start-up waits for Redis (up to redis.connect_timeout; none listens here), and the signal
  // comes during that wait, once `service.starting` is out. Before the handlers went in ahead of
  // start-up, plain node died of the signal there (exit by SIGTERM/SIGINT, nothing stopped).
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    it(`serve: ${sig} during start-up is a graceful stop once started, exit 0`, async () => {
      const data = mkdtempSync(join(tmpdir(), 'cbv-built-signal-'));
      const config = join(data, 'cbv.yaml');
      writeFileSync(
        config,
        [
          'service:',
          `  data_dir: ${data}`,
          'cache:',
          '  backend: redis',
          'redis:',
          `  url: redis://127.0.0.1:${await closedPort()}/`,
          '  connect_timeout: 3',
          'policy:',
          "  listen: ['127.0.0.1:0']",
          'http:',
          '  enabled: false',
          '',
        ].join('\n'),
      );
      const child = spawn(process.execPath, [join(dir, 'dist/main.js'), 'serve', '--config', config], {
        cwd: data,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      let log = '';
      let signalled = false;
      child.stdout.on('data', (c: Buffer) => {
        log += c.toString();
        if (!signalled && log.includes('"event":"service.starting"')) {
          signalled = true;
          child.kill(sig);
        }
      });
      const { code, signal } = await exited;
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, log);
      assert.ok(signalled, log);
      assert.match(log, /"event":"service\.ready"/, 'the start completed first');
      assert.match(log, new RegExp(`"event":"service\\.stopping","reason":"${sig}"`));
      assert.match(log, /"event":"service\.stopped"/);
    });
});

/** A loopback port nothing listens on (bound by the kernel's choice, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
