/**
 * Reading and validating the configuration: once, at start-up, into a frozen
 * object. Any problem becomes a ConfigError whose message is one line naming
 * the key, the value found and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as YamlModule from 'yaml';
import { resolve } from 'node:path';
import type * as z from 'zod';
import { baseDirOf, configDir, sourceLabel, type ConfigSource } from './locate.js';
import { configSchema, MAX_SOCKET_PATH_BYTES, type Config } from './schema.js';

/**
 * The YAML parser, loaded on first use: `cbv verify` without --config never reads YAML, and a
 * one-off command should not pay for a parser it does not use (issue 14: start-up time).
 */
let yamlModule: typeof YamlModule | undefined;
function yaml(): typeof YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof YamlModule;
  return yamlModule;
}

export class ConfigError extends Error {
  readonly code = 'CBV_ERR_CONFIG';
  constructor(
    message: string,
    /** Dotted key of the first problem, when there is one (lets the CLI name its flag instead). */
    readonly key: string | null = null,
    /** The problem without the source and key prefix. */
    readonly problem: string = message,
  ) {
    super(message);
  }
}

function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * What was given at `path`, for an error message. A configuration's secrets (the API's bearer
 * tokens, a Redis password, the credentials in redis.url) never appear: the message goes to
 * stderr and the journal, which more people read than the file. The problem is still named, with
 * the kind and length of what was given.
 */
function showInput(path: readonly PropertyKey[], value: unknown): string {
  const key = path.join('.');
  // The list, one entry, or its token; a token's name is no secret (logs and metrics carry it).
  if (/^http\.tokens(\.\d+(\.token)?)?$/.test(key) || key === 'redis.password') {
    if (typeof value === 'string') return `a value of ${value.length} characters (a secret: not shown)`;
    if (value === undefined || value === null) return show(value);
    return `${Array.isArray(value) ? 'a list' : `a ${typeof value}`} (a secret: not shown)`;
  }
  if (key === 'redis.url' && typeof value === 'string')
    return show(value.replace(/\/\/[^@/]*@/, '//(credentials not shown)@'));
  return show(value);
}

function keyOf(issue: z.core.$ZodIssue): string {
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  return path.join('.');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  return `${keyOf(issue) || '(top level)'}: ${problemOf(issue)}`;
}

/** The keys the schema allows at a path, for "unknown key" messages. */
function allowedKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType = configSchema;
  for (const segment of [...path, null]) {
    let def = schema._zod.def as {
      type: string;
      innerType?: z.core.$ZodType;
      shape?: Record<string, z.core.$ZodType>;
    };
    while (def.innerType && def.type !== 'object') def = def.innerType._zod.def;
    if (def.type !== 'object' || !def.shape) return [];
    if (segment === null) return Object.keys(def.shape);
    const child = def.shape[String(segment)];
    if (!child) return [];
    schema = child;
  }
  return [];
}

function problemOf(issue: z.core.$ZodIssue): string {
  const got = 'input' in issue ? issue.input : undefined;
  const shown = showInput(issue.path, got);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const others = issue.keys.length > 1 ? ` (also ${issue.keys.slice(1).join(', ')})` : '';
      return `unknown key${others}; allowed here: ${allowedKeysAt(issue.path).join(', ')}`;
    }
    case 'invalid_type':
      return `expected ${issue.expected}, got ${shown}`;
    case 'invalid_value':
      return `got ${shown}, allowed: ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}`;
    case 'too_small':
    case 'too_big':
      return `got ${shown}, ${issue.message.replace(/^Too (small|big): expected \w+ to (have|be) /, 'must be ')}`;
    default:
      return `got ${shown}, expected ${issue.message}`;
  }
}

/**
 * Validate an already-parsed object (from YAML, or {} for the defaults). `baseDir`, the directory
 * of the file it came from, anchors the file's relative paths (data_dir, cache.path, unix_socket),
 * so that every command reading that file finds the same database as the daemon, whatever its
 * working directory; without one (the built-in defaults) they stay relative to the working
 * directory, as the quick start expects.
 */
export function parseConfig(raw: unknown, source: string, baseDir?: string): Readonly<Config> {
  // jitless: a configuration is parsed once per process, and zod's generated fast path for objects
  // costs more to build (new Function, then compiled) than it saves on one parse (issue 14).
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true, jitless: true });
  if (!result.success) {
    const first = result.error.issues[0];
    if (!first) throw new ConfigError(`${source}: invalid configuration`);
    const more =
      result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problem(s))` : '';
    throw new ConfigError(`${source}: ${describeIssue(first)}${more}`, keyOf(first), problemOf(first));
  }
  const config = baseDir === undefined ? result.data : anchorPaths(result.data, baseDir);
  // The schema bounds the path as written; a relative one is only as long as its anchor makes it.
  const socket = config.policy.unix_socket;
  if (socket !== null && Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES) {
    const problem = `got "${socket}", expected a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (the kernel's limit for a unix socket)`;
    throw new ConfigError(`${source}: policy.unix_socket: ${problem}`, 'policy.unix_socket', problem);
  }
  return deepFreeze(config);
}

/** The config with its relative file paths resolved against `baseDir`. */
function anchorPaths(config: Config, baseDir: string): Config {
  const at = (path: string): string => resolve(baseDir, path);
  return {
    ...config,
    service: { ...config.service, data_dir: at(config.service.data_dir) },
    cache: { ...config.cache, path: config.cache.path === null ? null : at(config.cache.path) },
    policy: {
      ...config.policy,
      unix_socket: config.policy.unix_socket === null ? null : at(config.policy.unix_socket),
    },
  };
}

/** Read and validate a file; `label` names it in messages (default: the path). */
export function loadConfigFile(path: string, label: string = path): Readonly<Config> {
  return parseConfig(readRawConfig(path, label), label, configDir(path));
}

/**
 * The file's YAML as a plain object, not yet validated (so callers can lay overrides on it).
 * `label` names the file in messages (default: the path).
 */
export function readRawConfig(path: string, label: string = path): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `${label}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  let raw: unknown;
  try {
    raw = yaml().parse(text, { prettyErrors: true });
  } catch (error) {
    const detail =
      error instanceof yaml().YAMLParseError
        ? `line ${error.linePos?.[0].line ?? '?'}: ${(error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:$/, '')}`
        : String(error);
    throw new ConfigError(`${label}: not valid YAML, ${detail}`);
  }
  if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError(
      `${label}: the top level must be a mapping of sections (verify:, dns:, ...), got ${Array.isArray(raw) ? 'a list' : typeof raw}`,
    );
  }
  return (raw ?? {}) as Record<string, unknown>;
}

/** The located file's YAML (locate.ts), not yet validated ({} for the built-in defaults). */
export function readLocatedRaw(source: ConfigSource): Record<string, unknown> {
  return source.path === null ? {} : readRawConfig(source.path, sourceLabel(source));
}

/** Load and validate the located configuration (locate.ts). */
export function loadLocatedConfig(source: ConfigSource): Readonly<Config> {
  return parseConfig(readLocatedRaw(source), sourceLabel(source), baseDirOf(source));
}

/** Set a dotted key in a raw config object, creating sections as needed. */
export function setRawKey(raw: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = raw;
  for (const part of parts.slice(0, -1)) {
    const child = node[part];
    if (child === null || typeof child !== 'object' || Array.isArray(child)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] ?? ''] = value;
}

export function defaultConfig(): Readonly<Config> {
  return parseConfig({}, 'defaults');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
