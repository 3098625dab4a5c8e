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

  private engineFor(address: string): CalloutEngine {
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    return this.routes.get(domain) ?? this.fallback;
  }

  verify(address: string, opts: VerifyOptions): Promise<EngineVerdict> {
    return this.engineFor(address).verify(address, opts);
  }

  /** Each engine takes its own addresses (a batch is normally of one domain, so of one engine). */
  async verifyBatch(addresses: readonly string[], opts: VerifyOptions): Promise<EngineVerdict[]> {
    const byEngine = new Map<CalloutEngine, number[]>();
    addresses.forEach((a, i) => {
      const engine = this.engineFor(a);
      byEngine.set(engine, [...(byEngine.get(engine) ?? []), i]);
    });
    const verdicts = new Array<EngineVerdict>(addresses.length);
    await Promise.all(
      [...byEngine].map(async ([engine, indexes]) => {
        const results = await engine.verifyBatch(
          indexes.map((i) => addresses[i] ?? ''),
          opts,
        );
        indexes.forEach((i, j) => {
          const v = results[j];
          if (v) verdicts[i] = v;
        });
      }),
    );
    return verdicts;
  }

  get addressesPerSession(): number {
    return this.fallback.addressesPerSession;
  }

  async idle(): Promise<void> {
    await Promise.all([this.fallback.idle(), ...[...this.routes.values()].map((e) => e.idle())]);
  }
}
