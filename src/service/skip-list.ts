/** Domains (with their subdomains) and addresses never to call out. */
export class SkipList {
  private readonly domains: Set<string>;
  private readonly addresses: Set<string>;

  constructor(domains: readonly string[], addresses: readonly string[]) {
    this.domains = new Set(domains.map((d) => d.toLowerCase()));
    // Local parts are case-sensitive in principle but never in practice for a skip list.
    this.addresses = new Set(addresses.map((a) => a.toLowerCase()));
  }

  matches(address: string, domain: string): boolean {
    if (this.addresses.size > 0 && this.addresses.has(address.toLowerCase())) return true;
    if (this.domains.size === 0) return false;
    // The domain and each parent with at least two labels: a.b.example, b.example.
    for (
      let from = 0;
      from >= 0 && domain.indexOf('.', from) >= 0;
      from = domain.indexOf('.', from) + 1 || -1
    ) {
      if (this.domains.has(domain.slice(from))) return true;
    }
    return false;
  }
}
