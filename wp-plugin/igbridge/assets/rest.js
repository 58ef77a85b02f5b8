/**
 * Helpers shared by igbridge's admin screens: REST calls with the wp_rest
 * nonce, elements with textContent, notices, translated strings.
 */
const cfg = window.igbridgeConfig;

/** A translated string from IGBridge_Strings. @param {string} key */
export const t = (key) => cfg.i18n[key] ?? key;

/** An element with a class and text (set with textContent, never as HTML). */
export function el(tag, className = '', text = '') {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

/**
 * Calls an igbridge/v1 route and resolves with its JSON; rejects with an Error
 * carrying WordPress' or the sidecar's own message (and hint, if any), and the
 * HTTP `status` (none when WordPress was not reached at all).
 */
export async function api(path, { method = 'GET', json, body, headers: extra = {} } = {}) {
  const url = new URL(cfg.restUrl, location.href);
  const route = url.searchParams.get('rest_route'); // plain permalinks: ?rest_route=/igbridge/v1/
  if (route === null) url.pathname += path;
  else url.searchParams.set('rest_route', route + path);
  const headers = { 'X-WP-Nonce': cfg.nonce, Accept: 'application/json', ...extra };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: 'same-origin' });
  } catch (err) {
    throw new Error(`${t('network_error')} ${err.message}`);
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const error = data?.error ?? data ?? {};
  const failure = new Error([error.message || `HTTP ${response.status}`, error.hint].filter(Boolean).join(' '));
  throw Object.assign(failure, { status: response.status, code: error.code });
}

/** Shows a wp-admin notice above the page content, newest first, at most three. */
export function notice(text, type = 'info') {
  const box = document.getElementById('igbridge-notices');
  const div = el('div', `notice notice-${type}`);
  div.append(el('p', '', text));
  box.prepend(div);
  while (box.children.length > 3) box.lastElementChild.remove();
}
