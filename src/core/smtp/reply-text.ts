/**
 * Reply text from a remote server, made safe to keep, classify, log and show.
 *
 * The server is chosen by whoever forged the sender address. Its reply text may
 * hold invalid UTF-8, terminal escape sequences, C1 controls or bidi overrides
 * meant for a log viewer or a browser. Decoding here, once, means nothing that
 * reads a reply (the classifier, the transcript, logs, the dashboard) ever sees
 * a raw control: valid UTF-8 goes through cbv's one escaping rule
 * (printable(), src/core/printable.ts: `\x1b`, `\u009b`, `\u202e`), and every
 * byte that is not part of valid UTF-8 becomes `\xHH`. The reply code and the
 * enhanced code are parsed before this and stay exact.
 */
import { printable } from '../printable.js';

const fatal = new TextDecoder('utf-8', { fatal: true });

const hex = (b: number): string => `\\x${b.toString(16).padStart(2, '0')}`;

/** Length of the UTF-8 sequence a lead byte announces, or 0 when it cannot lead one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** The character the bytes at `i` encode, or null when they are not valid UTF-8. */
function charAt(bytes: Uint8Array, i: number, length: number): string | null {
  if (length === 0 || i + length > bytes.length) return null;
  try {
    return fatal.decode(bytes.subarray(i, i + length));
  } catch {
    return null;
  }
}

/** Decodes reply bytes to text with every unsafe character and every invalid byte escaped (see above). */
export function safeReplyText(bytes: Uint8Array): string {
  let decoded = '';
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceLength(bytes[i] ?? 0);
    const char = charAt(bytes, i, length);
    if (char === null) {
      out += printable(decoded) + hex(bytes[i] ?? 0);
      decoded = '';
      i++;
    } else {
      decoded += char;
      i += length;
    }
  }
  return out + printable(decoded);
}
