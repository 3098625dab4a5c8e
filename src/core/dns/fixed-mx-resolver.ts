/**
 * A resolver that answers every MX question with one fixed host, and asks a
 * real resolver only for that host's addresses (when it is a name). Used for
 * routes: domains whose mailboxes live on a known internal host (call-forward).
 */
import { isIP } from 'node:net';
import type { DnsResolver, MxRecord } from './resolver.js';

export class FixedMxResolver implements DnsResolver {
  constructor(
    private readonly host: string,
    private readonly real: DnsResolver,
  ) {}

  resolveMx(): Promise<MxRecord[]> {
    return Promise.resolve([{ exchange: this.host, priority: 0 }]);
  }

  resolve4(name: string): Promise<string[]> {
    if (isIP(name) === 4) return Promise.resolve([name]);
    if (isIP(name) === 6) return Promise.resolve([]);
    return this.real.resolve4(name);
  }

  resolve6(name: string): Promise<string[]> {
    if (isIP(name) === 6) return Promise.resolve([name]);
    if (isIP(name) === 4) return Promise.resolve([]);
    return this.real.resolve6(name);
  }
}
