/** See bundle-source.mjs: the source file (URL) and zero-based line of a bundled chunk's code. */
export function sourceOf(url: string, line: number, column: number): { url: string; line: number };
