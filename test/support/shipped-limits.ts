/**
 * The limits cbv ships with: the schema's limits.* defaults, turned into options as the daemon
 * turns them (limitOptions), so tests of the defaults follow any change to them. A module of its
 * own because app/build.js loads the whole daemon, which other users of support/service.ts need not.
 */
import { limitOptions } from '../../src/app/build.js';
import { defaultConfig } from '../../src/config/load.js';
import type { LimitOptions } from '../../src/limits/callout-limits.js';

export const SHIPPED_LIMITS: LimitOptions = limitOptions(defaultConfig());
