// Progress UI: message lines, an accessible progress view and opt-in completion alerts.
// User text always goes through textContent, never innerHTML. API: shared-js/README.md.

/** @typedef {import('./types.js').ViewState} ViewState */
/** @typedef {import('./types.js').Snapshot} Snapshot */

/** English defaults; pass translated strings as `labels` (WordPress: wp_add_inline_script). */
export const DEFAULT_LABELS = {
  starting: 'Starting…',
  running: 'Running',
  complete: 'Complete',
  error: 'Failed',
  cancelled: 'Cancelled',
  unit: 'posts',
  of: 'of',
  fewSeconds: 'a few seconds left',
  secondsLeft: 'about %d s left',
  minutesLeft: 'about %d min left',
  hoursLeft: 'about %d h left',
  notify: 'Desktop notification when done',
  sound: 'Sound when done',
};

export const VIEW_STATES = /** @type {const} */ (['starting', 'running', 'complete', 'error', 'cancelled']);
const MESSAGE_TYPES = ['info', 'success', 'warning', 'error'];
const ICONS = { starting: '', running: '', complete: '✓', error: '✕', cancelled: '–' };

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {string} className @param {string} [text]
 */
function el(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** @param {string} type */
const messageType = (type) => (MESSAGE_TYPES.includes(type) ? type : 'info');

/**
 * Append a message line to a log container.
 * @param {Element} container @param {string} text @param {string} [type] info|success|warning|error
 */
export function addProgressMessage(container, text, type = 'info') {
  const line = el('div', '');
  updateProgressMessage(line, text, type);
  container.appendChild(line);
  return line;
}

/** @param {HTMLElement} element @param {string} text @param {string} [type] */
export function updateProgressMessage(element, text, type = 'info') {
  element.className = `igb-msg igb-msg--${messageType(type)}`;
  element.textContent = String(text ?? '');
}

/** "3.2 posts/s"; empty when unknown. @param {number|null|undefined} rate @param {string} [unit] */
export function formatRate(rate, unit = DEFAULT_LABELS.unit) {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) return '';
  return `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} ${unit}/s`;
}

/** "about 1 min left"; empty when unknown. @param {number|null|undefined} seconds @param {typeof DEFAULT_LABELS} [labels] */
export function formatEta(seconds, labels = DEFAULT_LABELS) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '';
  /** @param {string} pattern @param {number} n */
  const fill = (pattern, n) => pattern.replace('%d', String(n));
  if (seconds < 10) return labels.fewSeconds;
  if (seconds < 60) return fill(labels.secondsLeft, Math.ceil(seconds / 10) * 10);
  if (seconds < 3600) return fill(labels.minutesLeft, Math.round(seconds / 60));
  return fill(labels.hoursLeft, Math.round(seconds / 3600));
}

/** @param {Snapshot} snapshot @returns {ViewState} */
function stateOf(snapshot) {
  const status = String(snapshot.status ?? snapshot.type ?? '');
  return /** @type {readonly string[]} */ (VIEW_STATES).includes(status) ? /** @type {ViewState} */ (status) : 'running';
}

/** @param {number|null|undefined} n */
const isCount = (n) => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/**
 * A progress bar with phase, N/M, rate, ETA and a polite live status line.
 * @param {Element} container
 * @param {{title?: string, labels?: Partial<typeof DEFAULT_LABELS>}} [options]
 */
export function createProgressView(container, options = {}) {
  const labels = { ...DEFAULT_LABELS, ...options.labels };
  const title = options.title ?? '';
  const element = el('div', 'igb-progress');
  const head = el('div', 'igb-progress__head');
  const titleEl = el('span', 'igb-progress__title', title);
  const icon = el('span', 'igb-progress__icon');
  icon.setAttribute('aria-hidden', 'true');
  const bar = el('div', 'igb-progress__track');
  bar.setAttribute('role', 'progressbar');
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '100');
  bar.setAttribute('aria-valuenow', '0');
  if (title) bar.setAttribute('aria-label', title);
  const fill = el('div', 'igb-progress__fill');
  const meta = el('div', 'igb-progress__meta');
  const phase = el('span', 'igb-progress__phase');
  const count = el('span', 'igb-progress__count');
  const rate = el('span', 'igb-progress__rate');
  const eta = el('span', 'igb-progress__eta');
  const status = el('p', 'igb-progress__status');
  status.setAttribute('aria-live', 'polite');
  head.append(titleEl, icon);
  bar.append(fill);
  meta.append(phase, count, rate, eta);
  element.append(head, bar, meta, status);
  container.appendChild(element);

  /** @type {ViewState | null} */
  let current = null;

  /** @param {ViewState} state */
  function setState(state) {
    if (!VIEW_STATES.includes(state)) throw new TypeError(`progress view: unknown state ${JSON.stringify(state)}`);
    if (state === current) return;
    current = state;
    element.className = `igb-progress igb-progress--${state}`;
    element.dataset.state = state;
    icon.textContent = ICONS[state];
    if (state === 'complete') setPercent(100);
    if (state !== 'running') {
      bar.setAttribute('aria-valuetext', labels[state]);
      if (!status.textContent) status.textContent = labels[state];
    }
  }

  /** @param {number} percent */
  function setPercent(percent) {
    const clamped = Math.max(0, Math.min(100, percent));
    fill.style.width = `${clamped}%`;
    bar.setAttribute('aria-valuenow', String(Math.round(clamped)));
  }

  /** @param {Snapshot} snapshot */
  function update(snapshot) {
    const done = isCount(snapshot.done) ? Number(snapshot.done) : null;
    const total = isCount(snapshot.total) ? Number(snapshot.total) : null;
    const counted = done !== null && !!total;
    let percent = snapshot.percentage;
    if (typeof percent !== 'number' && counted) percent = (100 * done) / total;
    if (typeof percent === 'number' && Number.isFinite(percent)) setPercent(percent);
    phase.textContent = snapshot.phase ?? '';
    count.textContent = counted ? `${done} / ${total}` : '';
    bar.removeAttribute('aria-valuetext');
    if (counted) bar.setAttribute('aria-valuetext', `${bar.getAttribute('aria-valuenow')}% (${done} ${labels.of} ${total})`);
    const state = stateOf(snapshot);
    const finished = state === 'complete' || state === 'error' || state === 'cancelled';
    rate.textContent = finished ? '' : formatRate(snapshot.rate, labels.unit);
    eta.textContent = finished ? '' : formatEta(snapshot.eta_seconds, labels);
    // Only a changed message is written, so screen readers are not flooded by every tick.
    const message = snapshot.message ? String(snapshot.message) : '';
    if (message && message !== status.textContent) status.textContent = message;
    setState(state);
  }

  setState('starting');
  return { element, update, setState };
}

const PREF_KEYS = { notify: 'igbridge.progress.notify', sound: 'igbridge.progress.sound' };

/** @param {'notify'|'sound'} name */
function readPref(name) {
  try {
    return globalThis.localStorage?.getItem(PREF_KEYS[name]) === '1';
  } catch {
    return false; // storage blocked: alerts stay off
  }
}

/** @param {'notify'|'sound'} name @param {boolean} on */
function writePref(name, on) {
  try {
    globalThis.localStorage?.setItem(PREF_KEYS[name], on ? '1' : '0');
  } catch {
    // storage blocked: the choice lasts for this page only
  }
}

/**
 * Two checkboxes (desktop notification, sound), off by default, remembered in
 * localStorage. Notification permission is asked from the checkbox's change
 * event, a user gesture, as browsers require.
 * @param {Element} container
 * @param {{labels?: Partial<typeof DEFAULT_LABELS>}} [options]
 */
export function createNotifyToggles(container, options = {}) {
  const labels = { ...DEFAULT_LABELS, ...options.labels };
  const element = el('div', 'igb-alerts');
  /** @param {'notify'|'sound'} name */
  const toggle = (name) => {
    const label = el('label', 'igb-alerts__toggle');
    const box = el('input', '');
    box.type = 'checkbox';
    box.name = `igbridge-${name}`;
    box.checked = readPref(name) && (name !== 'notify' || notificationPermission() === 'granted');
    box.addEventListener('change', async () => {
      writePref(name, box.checked);
      if (name === 'notify' && box.checked && notificationPermission() !== 'granted') {
        const N = /** @type {any} */ (globalThis).Notification;
        const answer = N ? await N.requestPermission() : 'denied';
        if (answer !== 'granted') {
          box.checked = false;
          writePref(name, false);
        }
      }
    });
    label.append(box, document.createTextNode(` ${labels[name]}`));
    element.append(label);
    return box;
  };
  const notifyBox = toggle('notify');
  const soundBox = toggle('sound');
  container.appendChild(element);
  return {
    element,
    /**
     * Alert the user that a job ended, as far as they opted in.
     * @param {string} title @param {string} body @param {boolean} ok
     */
    announce(title, body, ok) {
      if (notifyBox.checked && notificationPermission() === 'granted') {
        new (/** @type {any} */ (globalThis).Notification)(title, { body, tag: 'igbridge' });
      }
      if (soundBox.checked) playCompletionSound(ok);
    },
  };
}

function notificationPermission() {
  return /** @type {any} */ (globalThis).Notification?.permission ?? 'denied';
}

/**
 * A short two-note chime made with an oscillator (no audio file): rising when ok, falling when not.
 * @param {boolean} ok
 * @param {any} [AudioContextClass] injectable for tests
 * @returns {boolean} whether a sound was started
 */
export function playCompletionSound(ok, AudioContextClass = globalThis.AudioContext ?? /** @type {any} */ (globalThis).webkitAudioContext) {
  if (!AudioContextClass) return false;
  const audio = new AudioContextClass();
  const start = audio.currentTime;
  (ok ? [660, 880] : [440, 330]).forEach((frequency, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.15, start + i * 0.15);
    gain.gain.exponentialRampToValueAtTime(0.001, start + i * 0.15 + 0.14);
    osc.connect(gain).connect(audio.destination);
    osc.start(start + i * 0.15);
    osc.stop(start + i * 0.15 + 0.15);
  });
  setTimeout(() => audio.close(), 500);
  return true;
}
