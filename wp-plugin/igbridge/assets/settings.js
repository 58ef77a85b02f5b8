/**
 * Settings → igbridge: the "Test connection" button. WordPress checks the
 * server side (reach, secret, version; Apify's token through the sidecar); this
 * page then checks that the browser can reach the sidecar too, which live
 * progress needs.
 */
import { api, el, t } from './rest.js';

const cfg = window.igbridgeConfig;
const button = document.getElementById('igbridge-test-connection');
const result = document.getElementById('igbridge-test-result');

function show(text, type) {
  const div = el('div', `notice notice-${type} inline`);
  div.append(el('p', '', text));
  result.append(div);
}

async function browserCheck() {
  const url = `${cfg.publicUrl.replace(/\/$/, '')}/healthz`;
  try {
    const response = await fetch(url, { credentials: 'omit' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    show(t('browser_ok').replace('%s', cfg.publicUrl), 'success');
  } catch (err) {
    show(t('browser_failed').replace('%1$s', cfg.publicUrl).replace('%2$s', window.location.origin).replace('%3$s', err.message), 'error');
  }
}

button.addEventListener('click', async () => {
  button.disabled = true;
  result.replaceChildren();
  try {
    const check = await api('test-connection');
    show(check.message, check.ok ? 'success' : 'error');
    // Exports import without Apify, so a missing token is a warning, a refused one an error.
    if (check.apify) show(check.apify.message, check.apify.ok ? 'success' : check.apify.status === 'not_set' ? 'warning' : 'error');
    if (check.ok) await browserCheck();
  } catch (err) {
    show(err.message, 'error');
  } finally {
    button.disabled = false;
  }
});
