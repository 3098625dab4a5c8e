/**
 * The dashboard's only way to the daemon: same-origin fetches with the bearer
 * token, when one is stored. A 401 asks the page for a token.
 */
const TOKEN_KEY = 'cbv.token';

/** Raised for any answer that is not 2xx; carries the status and the API's error body. */
export class ApiError extends Error {
  /** @param {number} status @param {{error?: string, message?: string}} body */
  constructor(status, body) {
    super(body.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) ?? '',
  /** @param {string} value */
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  forget: () => localStorage.removeItem(TOKEN_KEY),
};

/** @type {() => void} */
let onUnauthorized = () => undefined;

/** @param {() => void} handler */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [options]
 */
export async function api(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const stored = token.get();
  if (stored) headers.authorization = `Bearer ${stored}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Path segment for an address or domain (they may hold '/', '?', '#'). */
export const seg = (/** @type {string} */ text) => encodeURIComponent(text);
