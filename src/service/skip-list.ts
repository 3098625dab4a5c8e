/**
 * Domains (with their subdomains) and addresses never to call out. Entries come from the
 * configuration already in canonical form (A-labels, lower case, no trailing dot: the schema
 * normalises them), and addresses are compared in the same form, so an entry matches however
 * the address is written (U-labels or A-labels, Postfix's unquoted internal form, any case).
 */
import { parseMailbox, type ParseResult } from '../core/index.js';

export class SkipList {
  private readonly domains: Set<string>;
  private readonly addresses: Set<string>;

  constructor(domains: readonly string[], addresses: readonly string[]) {
    this.domains = new Set(domains.map((d) => d.toLowerCase()));
    // Local parts are case-sensitive in principle but never in practice for a skip list.
    this.addresses = new Set(addresses.map((a) => a.toLowerCase()));
  }

  /** `address` and `domain` in canonical form (a parsed Mailbox's `address` and `domain`). */
  matches(address: string, canonicalDomain: string): boolean {
    if (this.addresses.size > 0 && this.addresses.has(address.toLowerCase())) return true;
    if (this.domains.size === 0) return false;
    // Entries are kept in lower case; a canonical name already is, a literal's tag is "IPv6:".
    const domain = canonicalDomain.startsWith('[') ? canonicalDomain.toLowerCase() : canonicalDomain;
    if (this.domains.has(domain)) return true;
    // An address literal is one host, with no parents; an IPv6 one has no dot at all, and the walk
    // below, which starts at a dot, never looked at it (a listed [IPv6:...] matched nothing).
    if (domain.startsWith('[')) return false;
    // Each parent with at least two labels: a.b.example, b.example.
    for (let dot = domain.indexOf('.'); dot >= 0; dot = domain.indexOf('.', dot + 1)) {
      const parent = domain.slice(dot + 1);
      if (!parent.includes('.')) return false;
      if (this.domains.has(parent)) return true;
    }
    return false;
  }

  /** Nothing on the list: nothing matches. */
  get empty(): boolean {
    return this.domains.size === 0 && this.addresses.size === 0;
  }

  /** An address as a request gives it: compared in canonical form when it parses, as written otherwise. */
  matchesInput(input: string): boolean {
    return !this.empty && this.matchesParsed(parseListed(input), input);
  }

  /** matchesInput() for an address already parsed (`parsed` is parseListed(input)). */
  matchesParsed(parsed: ParseResult, input: string): boolean {
    if (parsed.ok) return this.matches(parsed.mailbox.address, parsed.mailbox.domain);
    const lower = input.toLowerCase();
    return this.matches(lower, lower.slice(lower.lastIndexOf('@') + 1));
  }
}

/**
 * An address as a request gives it, parsed to be compared with list entries: single-label
 * domains are taken as written, so an entry can name them whatever verification allows.
 */
export function parseListed(input: string): ParseResult {
  return parseMailbox(input, { singleLabelDomains: true });
}

/** The canonical domain of an address as a request gives it (A-labels, lower case), or null if it has none. */
export function domainOf(input: string): string | null {
  const parsed = parseListed(input);
  return parsed.ok ? parsed.mailbox.domain : null;
}
