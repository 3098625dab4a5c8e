/** `cbv config check [FILE]` and `cbv config defaults`. */
import { defaultsYaml } from '../../config/defaults-yaml.js';
import { loadLocatedConfig } from '../../config/load.js';
import { locateConfig, sourceLabel } from '../../config/locate.js';
import { UsageError, parseCommandArgs } from './cli-errors.js';
import { EXIT } from './exit-codes.js';

export const CONFIG_USAGE = `usage: cbv config check [FILE]    validate a configuration file with the rules cbv serve applies
                                  (FILE or --config FILE, as the other commands take it;
                                  default: CBV_CONFIG, else /etc/cbv/cbv.yaml, as serve finds it)
       cbv config defaults       print every key with its default, commented`;

export function runConfig(argv: string[], out: (text: string) => void): number {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    // --config too: every other command names its file that way, and an administrator checks
    // the file with the same words they start the daemon with.
    options: { help: { type: 'boolean', short: 'h' }, config: { type: 'string' } },
  });
  const [sub, ...rest] = positionals;
  if (values.help) {
    out(CONFIG_USAGE);
    return EXIT.ok;
  }
  if (sub === 'defaults' && rest.length === 0) {
    out(defaultsYaml());
    return EXIT.ok;
  }
  if (sub === 'check' && rest.length <= 1) {
    if (values.config !== undefined && rest.length === 1)
      throw new UsageError(`two files to check: give FILE or --config FILE, not both`);
    const source = locateConfig(values.config ?? rest[0]);
    if (source.path === null)
      throw new UsageError('no file to check: give FILE, or set CBV_CONFIG, or install /etc/cbv/cbv.yaml');
    loadLocatedConfig(source);
    out(`${sourceLabel(source)}: ok`);
    return EXIT.ok;
  }
  throw new UsageError(`expected 'config check [FILE]' or 'config defaults'`);
}
