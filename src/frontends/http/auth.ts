/**
 * Bearer tokens. Each presented token is hashed and compared with every
 * configured token's hash by crypto.timingSafeEqual: equal-length digests, and
 * no early exit, so neither the comparison nor the loop tells an attacker how
 * much of a guess was right or which token it was near.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface NamedToken {
  name: string;
  token: string;
}

export type AuthResult = { ok: true; principal: string } | { ok: false; reason: 'missing' | 'wrong' };

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class TokenAuth {
  private readonly tokens: { name: string; digest: Buffer }[];

  constructor(tokens: readonly NamedToken[]) {
    this.tokens = tokens.map((t) => ({ name: t.name, digest: digest(t.token) }));
  }

  /** Without configured tokens, the API is open (it then listens on loopback only). */
  get required(): boolean {
    return this.tokens.length > 0;
  }

  /**
   * Who is asking: the token's name, or the client address when no token is
   * configured (then each address has its own rate limit).
   */
  check(authorization: string | undefined, clientIp: string): AuthResult {
    if (!this.required) return { ok: true, principal: `ip:${clientIp}` };
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match?.[1]) return { ok: false, reason: 'missing' };
    const presented = digest(match[1]);
    let found: string | null = null;
    for (const t of this.tokens) if (timingSafeEqual(presented, t.digest)) found ??= t.name;
    return found === null ? { ok: false, reason: 'wrong' } : { ok: true, principal: `token:${found}` };
  }
}
