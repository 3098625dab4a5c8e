/**
 * The dashboard: wires the panels, asks for a token when the API wants one,
 * and refreshes every 15 s while the page is visible.
 */
import { api, ApiError, token, whenUnauthorized } from './api.js';
import { refreshChart, initChart } from './chart.js';
import { byId } from './dom.js';
import { refreshFlood } from './flood.js';
import { refreshRecent } from './recent.js';
import { initStats, refreshStats } from './stats.js';
import { initTools } from './tools.js';

const REFRESH_MS = 15_000;

const tokenForm = /** @type {HTMLFormElement} */ (byId('token-form'));
const tokenInput = /** @type {HTMLInputElement} */ (byId('token-input'));
const tokenMessage = byId('token-message');

/** @param {string} message */
function askForToken(message) {
  tokenForm.hidden = false;
  tokenMessage.textContent = message;
  tokenInput.focus();
}

/** @param {unknown} error */
function report(error) {
  // 401s already opened the token form; anything else belongs in the console for the operator.
  if (error instanceof ApiError && error.status === 401) return;
  console.warn('cbv dashboard:', error);
}

/**
 * Set-up warnings from /readyz (a HELO name that is not fully qualified, naming verify.helo_name),
 * one line each; textContent, so the daemon's words are never read as markup.
 * @param {unknown} body
 */
function showSetupWarnings(body) {
  const box = byId('setup-warnings');
  const details = /** @type {{details?: {warnings?: unknown}}} */ (body ?? {}).details;
  const warnings = Array.isArray(details?.warnings) ? details.warnings.map(String) : [];
  box.replaceChildren(
    ...warnings.map((w) => {
      const line = document.createElement('p');
      line.textContent = w;
      return line;
    }),
  );
  box.hidden = warnings.length === 0;
}

async function refreshReady() {
  const pill = byId('ready');
  try {
    showSetupWarnings(await api('/readyz'));
    pill.textContent = 'ready';
    pill.className = 'pill ok';
  } catch (error) {
    if (error instanceof ApiError) showSetupWarnings(error.body);
    pill.textContent = 'cache unavailable';
    pill.className = 'pill bad';
  }
}

let refreshing = false;
async function refreshAll() {
  if (refreshing) return;
  refreshing = true;
  try {
    await Promise.all(
      [refreshReady(), refreshStats(), refreshChart(), refreshRecent(), refreshFlood()].map((p) =>
        p.catch(report),
      ),
    );
    byId('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } finally {
    refreshing = false;
  }
}

whenUnauthorized(() =>
  askForToken(
    token.get() ? 'The stored token was refused; enter a valid one.' : 'Enter an API token to continue.',
  ),
);
tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = tokenInput.value.trim();
  if (!value) return;
  token.set(value);
  tokenInput.value = '';
  tokenForm.hidden = true;
  void refreshAll();
});
byId('token-forget').addEventListener('click', () => {
  token.forget();
  tokenMessage.textContent = 'Token forgotten.';
});
byId('token-toggle').addEventListener('click', () => {
  tokenForm.hidden = !tokenForm.hidden;
  tokenMessage.textContent = token.get() ? 'A token is stored in this browser.' : 'No token stored.';
});

initStats(report);
initChart(report);
initTools(() => void refreshAll());
void refreshAll();
setInterval(() => {
  if (!document.hidden) void refreshAll();
}, REFRESH_MS);
