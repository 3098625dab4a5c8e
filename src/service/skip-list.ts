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
    if (this.addresses.has(address.toLowerCase())) return true;
    const labels = domain.split('.');
    for (let i = 0; i < labels.length - 1; i++) {
      if (this.domains.has(labels.slice(i).join('.'))) return true;
    }
    return false;
  }
}
