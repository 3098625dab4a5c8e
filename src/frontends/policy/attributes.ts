/**
 * One policy request's attributes (SMTPD_POLICY_README): name -> value, the last line with a
 * name giving its value, as a Map would hold them. The names Postfix sends (the table below) are
 * recognised in the request's text without being cut out of it, and their values kept in an
 * array by position: no string, hash or Map entry per name on every request. Any other name is
 * kept in a Map beside it, so that nothing a client sends is lost or read differently.
 */

/** The attributes of Postfix's policy protocol (SMTPD_POLICY_README, Postfix 2.1 to 3.9). */
const POSTFIX_NAMES = [
  'request',
  'protocol_state',
  'protocol_name',
  'helo_name',
  'queue_id',
  'sender',
  'recipient',
  'recipient_count',
  'client_address',
  'client_name',
  'reverse_client_name',
  'instance',
  'sasl_method',
  'sasl_username',
  'sasl_sender',
  'size',
  'ccert_subject',
  'ccert_issuer',
  'ccert_fingerprint',
  'ccert_pubkey_fingerprint',
  'encryption_protocol',
  'encryption_cipher',
  'encryption_keysize',
  'etrn_domain',
  'stress',
  'server_address',
  'server_port',
  'client_port',
  'policy_context',
  'compatibility_level',
  'mail_version',
] as const;

const INDEX = new Map<string, number>(POSTFIX_NAMES.map((name, i) => [name, i]));

/** Known names by their length and first character (`length * 128 + code`): the few to compare. */
const CANDIDATES: (readonly number[] | undefined)[] = [];
POSTFIX_NAMES.forEach((name, i) => {
  const key = name.length * 128 + name.charCodeAt(0);
  CANDIDATES[key] = [...(CANDIDATES[key] ?? []), i];
});

/**
 * The position of the Postfix attribute named by `text` from `start` to `end` (exclusive), or -1
 * when those characters are no Postfix attribute name. Nothing is allocated.
 */
export function postfixName(text: string, start: number, end: number): number {
  const length = end - start;
  const first = text.charCodeAt(start);
  if (length > 40 || first > 127) return -1;
  const candidates = CANDIDATES[length * 128 + first];
  if (candidates === undefined) return -1;
  for (const i of candidates) if (text.startsWith(POSTFIX_NAMES[i] as string, start)) return i;
  return -1;
}

/** A policy request's attributes; read-only to everyone but the reader that fills it. */
export class PolicyAttributes implements ReadonlyMap<string, string> {
  /** Values of Postfix's attributes, by their position in POSTFIX_NAMES. */
  private readonly known = new Array<string | undefined>(POSTFIX_NAMES.length);
  /** How many of Postfix's attributes are set. */
  private knownCount = 0;
  /** Any other name (valid, but not one Postfix sends). */
  private other: Map<string, string> | null = null;

  /** Set Postfix's attribute at `index` (from postfixName): the reader's fast path. */
  setKnown(index: number, value: string): void {
    if (this.known[index] === undefined) this.knownCount++;
    this.known[index] = value;
  }

  /** Set any attribute by name (the reader's other path). */
  set(name: string, value: string): void {
    const index = INDEX.get(name);
    if (index !== undefined) return this.setKnown(index, value);
    (this.other ??= new Map()).set(name, value);
  }

  get(name: string): string | undefined {
    const index = INDEX.get(name);
    return index !== undefined ? this.known[index] : this.other?.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  get size(): number {
    return this.knownCount + (this.other?.size ?? 0);
  }

  /** Postfix's attributes in the order of SMTPD_POLICY_README's table, then the others as they came. */
  *entries(): MapIterator<[string, string]> {
    for (let i = 0; i < POSTFIX_NAMES.length; i++) {
      const value = this.known[i];
      if (value !== undefined) yield [POSTFIX_NAMES[i] as string, value];
    }
    if (this.other) yield* this.other.entries();
  }

  *keys(): MapIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): MapIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }

  forEach(
    callback: (value: string, key: string, map: ReadonlyMap<string, string>) => void,
    thisArg?: unknown,
  ): void {
    for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
  }
}
