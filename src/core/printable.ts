/**
 * The one place that decides which characters from outside (SMTP replies,
 * sender addresses, policy attributes, DNS names) may reach a terminal, a log
 * line or a page as they are. Text printed by cbv passes through here.
 *
 * Unsafe, and therefore escaped:
 * - C0 controls U+0000-U+001F and DEL U+007F: a terminal obeys them (ESC
 *   starts a control sequence, CR rewrites a line, LF forges a new one);
 * - C1 controls U+0080-U+009F: U+009B is CSI, a one-character ESC [ that many
 *   terminals obey too;
 * - bidirectional formatting (Unicode UAX #9): the embeddings and overrides
 *   U+202A-U+202E, the isolates U+2066-U+2069, and the marks U+200E, U+200F
 *   and U+061C. They reorder what is shown, so `moc.elpmaxe@` can display as
 *   an address of another domain ("Trojan Source", CVE-2021-42574);
 * - the line and paragraph separators U+2028 and U+2029 (a new line in many
 *   viewers, and in JavaScript source);
 * - invisible characters (Unicode's Default_Ignorable_Code_Point: zero-width
 *   space and joiners, U+2060-U+206F, the BOM U+FEFF, soft hyphen, Hangul
 *   fillers, variation selectors, the tag characters U+E0000-U+E0FFF) and the
 *   interlinear annotations U+FFF9-U+FFFB: `pay\u200bpal@example.org` shows as
 *   `paypal@example.org`, so an address in a log, a table or the dashboard
 *   would look like another one;
 * - unpaired surrogates, which no UTF-8 output can encode.
 *
 * Everything else (accented letters, CJK, emoji in SMTPUTF8 addresses) is
 * printed as it is.
 */

/** Every unsafe character (see above), globally; `u` flag so that surrogate pairs stay one character. */
const UNSAFE =
  /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb\p{Default_Ignorable_Code_Point}]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/gu;

/** The unsafe characters that JSON.stringify leaves as they are (it escapes C0 and lone surrogates). */
const UNSAFE_IN_JSON =
  /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb\p{Default_Ignorable_Code_Point}]/gu;

/** The unsafe characters except line feed: a guard for whole blocks of output, which have lines. */
const UNSAFE_BUT_LF =
  /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb\p{Default_Ignorable_Code_Point}]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/gu;

const hex = (c: string, width: number): string => (c.codePointAt(0) ?? 0).toString(16).padStart(width, '0');

/**
 * `\u202e`: the escape JavaScript and JSON both read back as the character. A character
 * beyond U+FFFF (a tag character) is written as its two UTF-16 escapes, as JSON requires.
 */
const unicodeEscape = (c: string): string =>
  Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');

/** True when the text holds no character that printable() would escape. */
export function isPrintable(text: string): boolean {
  UNSAFE.lastIndex = 0;
  return !UNSAFE.test(text);
}

/**
 * Make text from outside safe to print on one line: C0 controls and DEL
 * become `\x1b`, every other unsafe character `\u009b`, `\u202e` (JavaScript
 * escapes). Safe text is returned unchanged.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code < 0x20 || code === 0x7f ? `\\x${hex(c, 2)}` : unicodeEscape(c);
  });
}

/**
 * JSON.stringify, with the unsafe characters it leaves alone (DEL, C1,
 * bidirectional formatting, U+2028/U+2029) escaped as `\uXXXX` too. Any JSON
 * parser reads the same value back, so nothing is lost; a person reading the
 * line (cat, less, a log viewer) sees the escape, not its effect.
 */
export function safeJson(value: unknown): string {
  return escapeJsonText(JSON.stringify(value));
}

/**
 * The same escaping applied to text that is already JSON (a log line made by
 * another serializer). The characters it replaces can only occur inside JSON
 * strings, so the result is valid JSON with the same value.
 */
export function escapeJsonText(json: string): string {
  return json.replace(UNSAFE_IN_JSON, unicodeEscape);
}

/**
 * A last guard for a whole block of output (a table, a report, a JSON line)
 * just before it is written: every unsafe character except the line feeds
 * that separate its lines becomes a `\uXXXX` escape, which is also valid
 * inside a JSON string. Fields should already have gone through printable()
 * or safeJson(); this catches a path that forgot.
 */
export function terminalSafe(block: string): string {
  return block.replace(UNSAFE_BUT_LF, unicodeEscape);
}
