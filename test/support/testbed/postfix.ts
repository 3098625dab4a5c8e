/**
 * One real Postfix instance (Debian's master(8) in the foreground) in a temp directory of its own:
 * its own config_directory, queue_directory and data_directory, its log in a file, and transports
 * that discard, so mail never leaves. The caller brings main.cf and master.cf (see
 * postfix-config.ts for what is added to them).
 *
 * master runs directly (`master -c DIR -d`), not via `postfix start`: that wrapper runs
 * postfix-script and post-install against the *system* install, and the set-gid tools (sendmail,
 * postdrop, postqueue) insist that DIR be listed in alternate_config_directories of
 * /etc/postfix/main.cf. So mail goes in over SMTP only, and /etc/postfix is never touched.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { smtpGreeting, tcpAnswers, tcpPortIsFree } from './net.js';
import {
  composeMainCf,
  inetServices,
  makeQueue,
  POSTFIX_INTERNAL_SERVICES,
  writeConfig,
  type PostfixDirs,
  type PostfixListener,
} from './postfix-config.js';
import { inTempDir, once, removeTempDir, spawnDaemon, tailOf, waitUntilReady } from './process.js';

export { POSTFIX_INTERNAL_SERVICES, type PostfixDirs, type PostfixListener } from './postfix-config.js';

const run = promisify(execFile);
const MASTER = '/usr/lib/postfix/sbin/master';

export interface PostfixOptions {
  /** Label for the temp directory and error messages. */
  name?: string;
  /** main.cf settings; they override the defaults (not the directory settings). */
  mainCf: string | ((dirs: PostfixDirs) => string);
  /** This instance's services: every inet service must be "127.x.y.z:PORT inet ...". */
  masterCf: string | ((dirs: PostfixDirs) => string);
  /** Extra files for config_directory (lookup tables, ...): file name -> contents. */
  files?: Record<string, string> | ((dirs: PostfixDirs) => Record<string, string>);
  /** Append POSTFIX_INTERNAL_SERVICES (cleanup, qmgr, rewrite, discard, postlog...). Default true. */
  internalServices?: boolean;
  readyTimeoutMs?: number;
  /** The greeting that shows an smtpd listener is up (default "220 "; a 421-at-connect listener: /^4/). */
  readyGreeting?: RegExp;
}

export interface PostfixInstance extends PostfixDirs {
  pid: number;
  listeners: PostfixListener[];
  /** Warnings `postconf -n` and `postconf -M` printed about this configuration (expect none). */
  configWarnings: string[];
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** postconf parses both files the way every daemon will, and says what it dislikes. */
async function configWarnings(configDir: string): Promise<string[]> {
  const warnings: string[] = [];
  for (const flag of ['-n', '-M']) {
    const { stderr } = await run('postconf', ['-c', configDir, flag]);
    warnings.push(...stderr.split('\n').filter((line) => line.includes('warning')));
  }
  return warnings;
}

/**
 * Warnings Postfix logs about the host rather than about its configuration or its peers: cleanup(8)
 * compares a queue file's modification time with the local clock and logs both lines below when the
 * file system runs a second ahead (seen on CI machines whose overlay file system rounds times up).
 * They say nothing about cbv or the test's main.cf, so problem checks leave them out.
 */
const HOST_CLOCK_WARNINGS = [
  /warning: file system clock is -?\d+ seconds? ahead of local clock$/,
  /warning: resetting file time stamps - this hurts performance$/,
];

/**
 * The `warning:`, `fatal:` and `panic:` lines of a Postfix log, without the host clock warnings
 * (HOST_CLOCK_WARNINGS): what a test expects to be empty when Postfix had nothing to complain about.
 */
export function postfixProblems(maillog: string): string[] {
  return maillog
    .split('\n')
    .filter((line) => /warning:|fatal:|panic:/.test(line))
    .filter((line) => !HOST_CLOCK_WARNINGS.some((pattern) => pattern.test(line)));
}

export async function startPostfix(options: PostfixOptions): Promise<PostfixInstance> {
  const name = options.name ?? 'postfix';
  return inTempDir(name, async (dir) => {
    const dirs: PostfixDirs = {
      dir,
      configDir: join(dir, 'conf'),
      queueDir: join(dir, 'queue'),
      dataDir: join(dir, 'data'),
      logFile: join(dir, 'maillog'),
    };
    const mainCf = typeof options.mainCf === 'function' ? options.mainCf(dirs) : options.mainCf;
    let masterCf = typeof options.masterCf === 'function' ? options.masterCf(dirs) : options.masterCf;
    if (options.internalServices ?? true) masterCf = `${masterCf.trimEnd()}\n${POSTFIX_INTERNAL_SERVICES}`;
    const listeners = inetServices(masterCf);
    // master binds with SO_REUSEPORT: on a taken address it would silently share the port.
    for (const { host, port } of listeners) {
      if (!(await tcpPortIsFree(host, port))) throw new Error(`${name}: ${host}:${port} is already in use`);
    }
    await writeConfig(dirs, {
      ...(typeof options.files === 'function' ? options.files(dirs) : options.files),
      'main.cf': composeMainCf(dirs, mainCf),
      'master.cf': masterCf,
    });
    await makeQueue(dirs);
    const warnings = await configWarnings(dirs.configDir);

    const daemon = spawnDaemon({
      name,
      command: MASTER,
      args: ['-c', dirs.configDir, '-d'],
      dir,
      extraLogs: [dirs.logFile],
    });
    const readLog = (): string => (existsSync(dirs.logFile) ? readFileSync(dirs.logFile, 'utf8') : '');
    for (const listener of listeners) {
      await waitUntilReady(
        daemon,
        `${listener.service} on ${listener.host}:${listener.port}`,
        async () => {
          if (listener.service !== 'smtpd') return tcpAnswers(listener.host, listener.port);
          listener.greeting = await smtpGreeting(listener.host, listener.port, 2000, options.readyGreeting);
          return listener.greeting !== undefined;
        },
        // A daemon that dies on a bad setting logs "fatal:" and master just retries: stop at once.
        { timeoutMs: options.readyTimeoutMs, failure: () => /\b(fatal|panic): .*/.exec(readLog())?.[0] },
      );
    }
    return {
      ...dirs,
      pid: daemon.pid,
      listeners,
      configWarnings: warnings,
      logTail: (lines = 40) => tailOf(dirs.logFile, lines),
      stop: once(async () => {
        await daemon.stop();
        await removeTempDir(dir);
      }),
    };
  });
}
