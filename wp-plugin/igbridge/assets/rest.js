/**
 * Small helpers shared by igbridge's admin screens: REST calls with the
 * wp_rest nonce, element creation with textContent, notices, strings.
 */

const cfg = window.igbridgeConfig;

/** Translated string by key (from IGBridge_Strings), or '' when unknown. @param {string} key */
export const t = (key) => cfg.i18n[key] ?? '';

/** An element with a class and text set through textContent. */
export function el(tag, className = '', text = '') {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** The URL of an igbridge/v1 route, with pretty or plain permalinks. @param {string} path */
export function endpoint(path) {
  const url = new URL(cfg.restUrl, window.location.href);
  const route = url.searchParams.get('rest_route');
  if (route !== null) url.searchParams.set('rest_route', route + path);
  else url.pathname += path;
  return url;
}

/**
 * Calls an igbridge/v1 route; resolves with the JSON body, rejects with an
 * Error whose message says what went wrong (WordPress' or the sidecar's words).
 * @param {string} path @param {{method?: string, json?: any, body?: BodyInit}} [options]
 */
export async function api(path, { method = 'GET', json, body } = {}) {
  const headers = { 'X-WP-Nonce': cfg.nonce, Accept: 'application/json' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(endpoint(path), { method, headers, body, credentials: 'same-origin' });
  } catch (err) {
    throw new Error(`${t('network_error')} ${err.message}`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? data ?? {};
    const hint = error.hint ?? error.data?.hint;
    const message = error.message || `HTTP ${response.status}`;
    throw new Error(hint ? `${message} ${hint}` : message);
  }
  return data;
}

/** Shows a wp-admin notice above the page content; keeps the last three. */
export function notice(text, type = 'info') {
  const box = document.getElementById('igbridge-notices');
  const div = el('div', `notice notice-${type} is-dismissible`);
  div.append(el('p', '', text));
  const close = el('button', 'notice-dismiss');
  close.type = 'button';
  close.append(el('span', 'screen-reader-text', t('dismiss')));
  close.addEventListener('click', () => div.remove());
  div.append(close);
  box.prepend(div);
  while (box.children.length > 3) box.lastElementChild.remove();
  return div;
}
