/** Which front-ends the daemon hosts, from the config. */
import type { Config } from '../config/schema.js';
import type { Frontend } from '../frontends/frontend.js';
import type { Logger } from '../observability/logger.js';
import type { Service } from './build.js';

export function buildFrontends(_config: Readonly<Config>, _service: Service, _logger: Logger): Frontend[] {
  return [];
}
