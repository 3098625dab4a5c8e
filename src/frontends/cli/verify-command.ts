/**
 * `cbv verify [options] [--] ADDRESS...`: a one-off check from the shell.
 * A thin front-end: flags become config keys, the config is validated like
 * the daemon's, and the verdicts are printed as a table or JSON lines.
 *
 * Given what a mail server knows about the connection (--client-ip,
 * --client-helo, --client-name, --sasl-user), it asks the service's decision
 * path instead, as the policy server and the HTTP API do: skip rules, SPF,
 * then the callout, and the decision table (verify-decisions.ts).
 */
import { resolve } from 'node:path';
import { safeJson, type Verdict } from '../../core/index.js';
import { ConfigError, parseConfig, readLocatedRaw, setRawKey } from '../../config/load.js';
import {
  baseDirOf,
  describeSource,
  locateConfig,
  sourceLabel,
  type ConfigSource,
} from '../../config/locate.js';
import { heloIdentity } from '../../config/helo-name.js';
import type { Config } from '../../config/schema.js';
import { UsageError, parseCommandArgs } from './cli-errors.js';
import { exitForResults, EXIT } from './exit-codes.js';
import { formatTable, formatTranscript } from './format.js';
import {
  connectionFromFlags,
  runDecisions,
  type Connection,
  type DecisionRunner,
} from './verify-decisions.js';

export const VERIFY_USAGE = `usage: cbv verify [options] [--] ADDRESS...

  --json                     one JSON verdict per line
  --trace                    print the SMTP transcript of each callout
  --config FILE              read settings from a cbv.yaml (flags override it); default:
                             CBV_CONFIG, else /etc/cbv/cbv.yaml, else built-in defaults
  --cache PATH               read and write this SQLite cache (created if missing)
  --no-cache                 call out afresh, touching no cache (default: the cache the
                             daemon keeps for the config, when its database exists)
  --dns HOST[:PORT]          resolver to use (repeatable; default /etc/resolv.conf)
  --allow-target CIDR        allow connecting to this special-purpose range (repeatable)
  --port N                   remote SMTP port (default 25)
  --helo NAME                name to send in EHLO (default this machine's FQDN; a name
                             that is not fully qualified is warned about on stderr)
  --sender ADDR              MAIL FROM address; '' for <> (default <>)
  --timeout SECONDS          overall budget per address (default 60)
  --starttls MODE            off | opportunistic | required (default opportunistic)
  --no-catch-all-test        do not probe a random local part
  --vrfy                     try VRFY before RCPT
  -h, --help                 this help

what a mail server would decide (the policy server's decision path: skip rules, SPF, then
the callout, and policy.decisions); each address is the envelope sender of that connection:
  --client-ip IP             the connecting client's address (SPF is checked with it)
  --client-helo NAME         the name the client gave in HELO/EHLO (SPF for the null sender)
  --client-name NAME         the client's verified reverse DNS name
  --sasl-user NAME           the client authenticated as NAME (the sender is not verified)

exit status: 0 all deliverable, 1 some undeliverable, 2 some risky (catch-all, full),
             3 some unknown (temporary or no information), 64 usage, 70 internal error
             (some address got no verdict), 78 configuration
             with a --client-* or --sasl-user flag: 0 every sender accepted, 1 some
             rejected, 3 some deferred (the decision, not the verdict)`;

/** Flags that map onto config keys, so the config schema validates them too. */
const FLAG_KEYS = {
  dns: 'dns.servers',
  'allow-target': 'verify.allow_targets',
  port: 'verify.port',
  helo: 'verify.helo_name',
  sender: 'verify.sender',
  timeout: 'verify.budget',
  starttls: 'verify.starttls',
  cache: 'cache.path',
} as const;

export interface VerifyEngine {
  verify(address: string, opts: { transcript: boolean; waitForClose: boolean }): Promise<Verdict<string>>;
  close(): Promise<void>;
  /** Which cache it reads and writes, for the stderr line ("cache /var/lib/cbv/cbv.sqlite", "no cache (...)"). */
  cacheDescription: string;
}

/**
 * Which cache `cbv verify` uses: none (`--no-cache`), the file `--cache` names (created if
 * missing), or the daemon's cache for the configuration when its database exists.
 */
export type VerifyCacheChoice = 'none' | 'explicit' | 'daemon';

export interface VerifyArgs {
  config: Readonly<Config>;
  source: ConfigSource;
  cache: VerifyCacheChoice;
  addresses: string[];
  json: boolean;
  trace: boolean;
  /** The connection facts given by flags; null for a bare callout. */
  connection: Connection | null;
}

export interface VerifyCommandDeps {
  /** Builds the engine (or the service with a cache) for the config; may load its modules first. */
  buildEngine(config: Readonly<Config>, cache: VerifyCacheChoice): VerifyEngine | Promise<VerifyEngine>;
  /** Builds the service's decision path (Decider) for the config: used when connection facts are given. */
  buildDecider(config: Readonly<Config>, cache: VerifyCacheChoice): DecisionRunner | Promise<DecisionRunner>;
  out(text: string): void;
  /** Writes one line to stderr (warnings that are not part of the output). */
  warn?(text: string): void;
  /** Where the line naming the configuration and cache goes (stderr). */
  note(text: string): void;
}

function numeric(value: string): number | string {
  return /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

export function verifyConfigFromArgs(argv: string[]): VerifyArgs | 'help' {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      trace: { type: 'boolean' },
      config: { type: 'string' },
      cache: { type: 'string' },
      'no-cache': { type: 'boolean' },
      dns: { type: 'string', multiple: true },
      'allow-target': { type: 'string', multiple: true },
      port: { type: 'string' },
      helo: { type: 'string' },
      sender: { type: 'string' },
      timeout: { type: 'string' },
      starttls: { type: 'string' },
      'no-catch-all-test': { type: 'boolean' },
      vrfy: { type: 'boolean' },
      'client-ip': { type: 'string' },
      'client-helo': { type: 'string' },
      'client-name': { type: 'string' },
      'sasl-user': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('no address given');
  if (values.cache !== undefined && values['no-cache'])
    throw new UsageError('--cache and --no-cache exclude each other');
  const connection = connectionFromFlags(values);
  const source = locateConfig(values.config);
  const raw = readLocatedRaw(source);
  const flagForKey = new Map<string, string>();
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    const value = values[flag as keyof typeof FLAG_KEYS];
    if (value === undefined) continue;
    flagForKey.set(key, `--${flag}`);
    // --cache is a command-line path: relative to the working directory, not to the config file.
    const given = flag === 'cache' ? resolve(value as string) : value;
    setRawKey(raw, key, flag === 'port' || flag === 'timeout' ? numeric(value as string) : given);
  }
  if (values['no-catch-all-test']) setRawKey(raw, 'verify.catch_all_test', false);
  if (values.vrfy) setRawKey(raw, 'verify.vrfy', true);
  let config: Readonly<Config>;
  try {
    config = parseConfig(raw, sourceLabel(source), baseDirOf(source));
  } catch (error) {
    const flag =
      error instanceof ConfigError && error.key ? flagForKey.get(error.key.replace(/\.\d+$/, '')) : undefined;
    if (flag && error instanceof ConfigError) throw new UsageError(`${flag}: ${error.problem}`);
    throw error;
  }
  const cache = values['no-cache'] ? 'none' : values.cache !== undefined ? 'explicit' : 'daemon';
  return {
    config,
    source,
    cache,
    addresses: positionals,
    json: values.json ?? false,
    trace: values.trace ?? false,
    connection,
  };
}

export async function runVerify(argv: string[], deps: VerifyCommandDeps): Promise<number> {
  const args = verifyConfigFromArgs(argv);
  if (args === 'help') {
    deps.out(VERIFY_USAGE);
    return EXIT.ok;
  }
  // Once per run, not per address: the name is the same for every callout.
  const helo = heloIdentity(args.config);
  if (helo.warning) deps.warn?.(`cbv: warning: ${helo.warning}`);
  if (args.connection) return runDecisions(args, args.connection, deps);
  const engine = await deps.buildEngine(args.config, args.cache);
  deps.note(`${describeSource(args.source)}, ${engine.cacheDescription}`);
  const verdicts: Verdict<string>[] = [];
  let failures = 0;
  try {
    for (const address of args.addresses) {
      let verdict: Verdict<string>;
      try {
        verdict = await engine.verify(address, { transcript: args.trace, waitForClose: args.trace });
      } catch (error) {
        // A fault in cbv itself: say so for this address and go on; the exit status says it too.
        failures++;
        deps.warn?.(
          `cbv: internal error verifying ${address}: ${error instanceof Error ? error.message : String(error)}`,
        );
        continue;
      }
      verdicts.push(verdict);
      if (args.json) deps.out(safeJson(verdict));
      else if (args.trace) deps.out(formatTranscript(verdict));
    }
  } finally {
    await engine.close();
  }
  if (!args.json) deps.out(formatTable(verdicts));
  // Every address must have its verdict printed; a run that could not do that never looks like success.
  if (failures > 0 || verdicts.length !== args.addresses.length) return EXIT.software;
  return exitForResults(verdicts.map((v) => v.result));
}
