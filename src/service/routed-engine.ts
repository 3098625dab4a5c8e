/**
 * Routes (service.routes): addresses at a routed domain are verified at the
 * configured internal host instead of the domain's MX. This is call-forward
 * verification for relay domains (Postfix reject_unverified_recipient on a
 * relay host, milter-ahead's job); everything else goes to the default engine.
 */
import type { EngineVerdict, VerifyOptions } from '../core/index.js';
import type { CalloutEngine } from './verifier.js';

export class RoutedEngine implements CalloutEngine {
  constructor(
    private readonly fallback: CalloutEngine,
    private readonly routes: ReadonlyMap<string, CalloutEngine>,
  ) {}

  verify(address: string, opts: VerifyOptions): Promise<EngineVerdict> {
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    return (this.routes.get(domain) ?? this.fallback).verify(address, opts);
  }

  async idle(): Promise<void> {
    await Promise.all([this.fallback.idle(), ...[...this.routes.values()].map((e) => e.idle())]);
  }
}
