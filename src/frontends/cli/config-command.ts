/** `cbv config check FILE` and `cbv config defaults`. */
import { loadConfigFile } from '../../config/load.js';
import { defaultsYaml } from '../../config/defaults-yaml.js';
import { UsageError } from './cli-errors.js';
import { EXIT } from './exit-codes.js';

export const CONFIG_USAGE = `usage: cbv config check FILE     validate a configuration file
       cbv config defaults       print every key with its default, commented`;

export function runConfig(argv: string[], out: (text: string) => void): number {
  const [sub, ...rest] = argv;
  if (sub === 'defaults' && rest.length === 0) {
    out(defaultsYaml());
    return EXIT.ok;
  }
  if (sub === 'check' && rest.length === 1 && rest[0]) {
    loadConfigFile(rest[0]);
    out(`${rest[0]}: ok`);
    return EXIT.ok;
  }
  if (sub === '--help' || sub === '-h') {
    out(CONFIG_USAGE);
    return EXIT.ok;
  }
  throw new UsageError(`expected 'config check FILE' or 'config defaults'`);
}
