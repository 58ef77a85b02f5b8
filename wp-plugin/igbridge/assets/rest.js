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

// What WordPress answers a cookie request once its login session ended (or the nonce aged out).
const LOGGED_OUT = ['rest_cookie_invalid_nonce', 'rest_not_logged_in'];

/**
 * Calls an igbridge/v1 route (`query`: its query arguments; null ones are left out) and
 * resolves with its JSON; rejects with an Error carrying WordPress' or the sidecar's own
 * message (and hint, if any), its `code`, the HTTP `status` (none when WordPress was not
 * reached at all), and `loggedOut` when the WordPress session is gone.
 */
export async function api(path, { method = 'GET', json, body, query = {}, headers: extra = {} } = {}) {
  const url = new URL(cfg.restUrl, location.href);
  const route = url.searchParams.get('rest_route'); // plain permalinks: ?rest_route=/igbridge/v1/
  if (route === null) url.pathname += path;
  else url.searchParams.set('rest_route', route + path);
  for (const [name, value] of Object.entries(query)) if (value != null) url.searchParams.set(name, String(value));
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
  const loggedOut = LOGGED_OUT.includes(error.code);
  const message = loggedOut ? t('logged_out') : [error.message || `HTTP ${response.status}`, error.hint].filter(Boolean).join(' ');
  throw Object.assign(new Error(message), { code: error.code, status: response.status, loggedOut });
}

/** Shows THE wp-admin notice above the page content: each replaces the last, none pile up. */
export function notice(text, type = 'info', ...extra) {
  const box = document.getElementById('igbridge-notices');
  const div = el('div', `notice notice-${type}`);
  const line = el('p', '', text);
  if (extra.length) line.append(' ', ...extra);
  div.append(line);
  box.replaceChildren(div);
}
