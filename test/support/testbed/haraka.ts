/**
 * A real Haraka (the npm package, a development dependency of integrations/haraka) as the edge
 * gateway, started from the exact configuration shipped in deploy/haraka/config/. The test names
 * only what is site-specific (addresses, ports, domains, block-list zones); each such key must
 * already be in the shipped file, so the test runs what an administrator would install.
 *
 * Haraka resolves through Node's c-ares resolver (dns.resolve*): a preload points it at the bed's
 * Unbound, so no query leaves the machine (Unbound answers nothing outside .test). smtp.ini's
 * public_ip is set, so Haraka never looks for its public address over STUN.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runTool } from './clients.js';
import { smtpGreeting, tcpPortIsFree } from './net.js';
import { makeTempDir, once, removeTempDir, spawnDaemon, waitUntilReady } from './process.js';

export const PLUGIN_DIR = resolve(import.meta.dirname, '../../../integrations/haraka');
export const SHIPPED_CONFIG = resolve(import.meta.dirname, '../../../deploy/haraka/config');
const HARAKA_BIN = join(PLUGIN_DIR, 'node_modules', 'Haraka', 'bin', 'haraka');

/** file -> section ('' for keys before any section) -> key -> value. */
export type IniOverrides = Record<string, Record<string, Record<string, string>>>;

export interface HarakaOptions {
  /** "ip:port" to listen on (127.0.0.0/8). */
  listen: string;
  /** "127.0.0.1:port" of the bed's DNS server. */
  dnsServer: string;
  /** Values replacing those of keys in the shipped .ini files. */
  ini: IniOverrides;
  /** Whole line-list files replaced (host_list, me). */
  lists?: Record<string, readonly string[]>;
}

export interface Haraka {
  pid: number;
  listen: string;
  dir: string;
  log(): Promise<string>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Sets `key=value` in `section` of an ini text. Throws if the shipped file has no such key there:
 * the test must change the shipped configuration, not invent one.
 */
export function setIniValue(text: string, section: string, key: string, value: string): string {
  const lines = text.split('\n');
  let current = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? '';
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) current = header[1] ?? '';
    else if (current === section && new RegExp(`^${key}\\s*=`).test(line)) {
      lines[i] = `${key}=${value}`;
      return lines.join('\n');
    }
  }
  throw new Error(`the shipped configuration has no ${section ? `[${section}] ` : ''}${key}=`);
}

/** True once `npm ci` has been run in integrations/haraka. */
export function harakaInstalled(): boolean {
  return existsSync(HARAKA_BIN);
}

export async function startHaraka(options: HarakaOptions): Promise<Haraka> {
  if (!harakaInstalled()) {
    throw new Error(`Haraka is not installed: run npm ci in ${PLUGIN_DIR} (npm test does it)`);
  }
  const [ip, port] = [
    options.listen.slice(0, options.listen.lastIndexOf(':')),
    options.listen.split(':').pop(),
  ];
  if (!(await tcpPortIsFree(ip, Number(port)))) throw new Error(`haraka: ${options.listen} is taken`);
  const dir = await makeTempDir('haraka');
  try {
    // As docs/haraka.md installs it: `haraka -i DIR` lays out the defaults, then the shipped files.
    const install = await runTool(process.execPath, [HARAKA_BIN, '-i', dir]);
    if (install.exitCode !== 0) throw new Error(`haraka -i failed:\n${install.output}`);
    const config = join(dir, 'config');
    for (const name of await readdir(SHIPPED_CONFIG))
      await copyFile(join(SHIPPED_CONFIG, name), join(config, name));
    for (const [file, sections] of Object.entries(options.ini)) {
      let text = await readFile(join(config, file), 'utf8');
      for (const [section, values] of Object.entries(sections))
        for (const [key, value] of Object.entries(values)) text = setIniValue(text, section, key, value);
      await writeFile(join(config, file), text);
    }
    for (const [file, lines] of Object.entries(options.lists ?? {})) {
      if (!existsSync(join(config, file))) throw new Error(`the shipped configuration has no ${file}`);
      await writeFile(join(config, file), `${lines.join('\n')}\n`);
    }
    // Logs on stdout, at info: every hook's result is in the test's log file.
    await writeFile(join(config, 'log.ini'), '[main]\nlevel=info\ntimestamps=true\n');
    // Haraka finds npm plugins in <HARAKA>/node_modules/haraka-plugin-<name>, as after an install.
    await mkdir(join(dir, 'node_modules'));
    await symlink(PLUGIN_DIR, join(dir, 'node_modules', 'haraka-plugin-cbv'));
    const preload = join(dir, 'test-dns.cjs');
    await writeFile(
      preload,
      [
        "'use strict';",
        "// Test bed only: every c-ares lookup goes to the bed's Unbound.",
        "const dns = require('node:dns');",
        `dns.setServers([${JSON.stringify(options.dnsServer)}]);`,
        `dns.promises.setServers([${JSON.stringify(options.dnsServer)}]);`,
        '',
      ].join('\n'),
    );
    const daemon = spawnDaemon({
      name: 'haraka',
      command: process.execPath,
      args: ['--require', preload, HARAKA_BIN, '-c', dir],
      dir,
      env: { ...process.env, NODE_ENV: 'production' },
    });
    await waitUntilReady(
      daemon,
      `Haraka on ${options.listen}`,
      async () => (await smtpGreeting(ip, Number(port)))?.startsWith('220') === true,
      { timeoutMs: 20_000 },
    );
    return {
      pid: daemon.pid,
      listen: options.listen,
      dir,
      log: () => readFile(daemon.logFile, 'utf8').catch(() => ''),
      logTail: (lines) => daemon.logTail(lines),
      stop: once(async () => {
        await daemon.stop();
        await removeTempDir(dir);
      }),
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}
