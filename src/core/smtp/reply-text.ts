/**
 * Reply text from a remote server, as text: what the classifier, the transcript and the verdict hold.
 *
 * The reply code and enhanced code are parsed from clean ASCII before this; the text after them
 * may hold anything a hostile or broken server sends. Valid UTF-8 is kept as the server sent it,
 * controls included, so the verdict says exactly what the server said and JSON reads it back;
 * everything that prints it escapes it there, by cbv's one rule (printable(), src/core/printable.ts).
 * A byte that is not part of valid UTF-8 cannot be kept as text: it becomes the four characters
 * `\xHH`, the form printable() gives a control.
 */
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

/** Decodes reply text: valid UTF-8 as it is, every other byte as `\xHH`. Never throws. */
export function replyTextFromBytes(bytes: Uint8Array): string {
  try {
    return fatal.decode(bytes);
  } catch {
    // Invalid somewhere: decode sequence by sequence.
  }
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceLength(bytes[i] ?? 0);
    let char: string | null = null;
    if (length > 0 && i + length <= bytes.length) {
      try {
        char = fatal.decode(bytes.subarray(i, i + length));
      } catch {
        char = null;
      }
    }
    if (char === null) {
      out += hex(bytes[i] ?? 0);
      i++;
    } else {
      out += char;
      i += length;
    }
  }
  return out;
}
