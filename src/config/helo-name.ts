/**
 * The name cbv says in EHLO/HELO: `verify.helo_name`, else this machine's fully
 * qualified name. Many MX hosts refuse a HELO name that is not fully qualified
 * (Postfix reject_non_fqdn_helo_hostname is common), and every such refusal
 * costs a verdict, so start-up says so when neither source gives one.
 */
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import type { Config } from './schema.js';

export interface HeloIdentity {
  /** The name sent in EHLO/HELO. */
  name: string;
  /** Where it came from: the config key, or the machine's host name. */
  source: 'config' | 'machine';
  /** True when the name is fully qualified (or an address literal), as MX hosts expect. */
  qualified: boolean;
  /** One line naming verify.helo_name when the name is not fully qualified; null otherwise. */
  warning: string | null;
}

let machineName: string | null = null;

/**
 * This machine's fully qualified name, for HELO. os.hostname() is often the
 * short name; `hostname --fqdn` asks the resolver. Falls back to the short
 * name. Asked once per process.
 */
export function machineFqdn(): string {
  machineName ??= lookUpFqdn();
  return machineName;
}

function lookUpFqdn(): string {
  const short = hostname();
  if (isFullyQualified(short)) return short;
  try {
    const fqdn = execFileSync('hostname', ['--fqdn'], {
      timeout: 2000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (/^[A-Za-z0-9.-]+$/.test(fqdn) && isFullyQualified(fqdn)) return fqdn;
  } catch {
    // No hostname(1) or no answer: fall back to the short name.
  }
  return short;
}

/** Names that have a dot but are never valid on the Internet (RFC 6762 .local, the Debian default localdomain). */
const NOT_GLOBAL = /(^|\.)(localhost|localdomain|local|lan|home|internal|invalid)\.?$/i;

/**
 * Fully qualified as a HELO name: an address literal (`[192.0.2.1]`, RFC 5321 4.1.3), or a
 * domain of at least two labels whose top label is not numeric and not a private-use name.
 */
export function isFullyQualified(name: string): boolean {
  if (/^\[[^\]]+\]$/.test(name)) return true;
  const labels = name.replace(/\.$/, '').split('.');
  if (labels.length < 2 || labels.some((l) => l.length === 0)) return false;
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return false;
  return !NOT_GLOBAL.test(name);
}

/** The HELO name from the config (or the machine), and whether start-up should warn about it. */
export function heloIdentity(config: Readonly<Config>, fqdn: () => string = machineFqdn): HeloIdentity {
  const configured = config.verify.helo_name;
  const name = configured ?? fqdn();
  const source = configured === null ? 'machine' : 'config';
  const qualified = isFullyQualified(name);
  const warning = qualified
    ? null
    : source === 'config'
      ? `verify.helo_name "${name}" is not a fully qualified domain name; many mail servers refuse such a HELO name, and each refusal costs a verdict: set verify.helo_name to this host's fully qualified name`
      : `this machine's name "${name}" is not a fully qualified domain name and verify.helo_name is not set; many mail servers refuse such a HELO name, and each refusal costs a verdict: set verify.helo_name to this host's fully qualified name`;
  return { name, source, qualified, warning };
}
