import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Window } from 'happy-dom';
import {
  addProgressMessage, updateProgressMessage, createProgressView, createNotifyToggles,
  formatEta, formatRate, playCompletionSound, VIEW_STATES,
} from '../src/progress-ui.js';

const XSS = '<img src=x onerror=alert(1)>';
const g = /** @type {any} */ (globalThis);
const window = new Window({ url: 'https://wp.test/wp-admin/admin.php?page=igbridge' });
g.document = window.document;
g.localStorage = window.localStorage;

/** @type {HTMLElement} */
let container;
beforeEach(() => {
  document.body.replaceChildren();
  window.localStorage.clear();
  delete g.Notification;
  delete g.AudioContext;
  container = document.createElement('div');
  document.body.append(container);
});

/** What a person sees of a view, as one value. @param {{element: HTMLElement}} view */
function visible(view) {
  const $ = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (view.element.querySelector(sel));
  const bar = $('[role="progressbar"]');
  return {
    state: view.element.dataset.state,
    className: view.element.className,
    icon: $('.igb-progress__icon').textContent,
    width: $('.igb-progress__fill').style.width,
    valuenow: bar.getAttribute('aria-valuenow'),
    valuetext: bar.getAttribute('aria-valuetext'),
    phase: $('.igb-progress__phase').textContent,
    count: $('.igb-progress__count').textContent,
    rate: $('.igb-progress__rate').textContent,
    eta: $('.igb-progress__eta').textContent,
    status: $('[aria-live="polite"]').textContent,
  };
}

test('messages are text: a caption with markup creates no element', () => {
  const line = addProgressMessage(container, `Caption: ${XSS}`, 'success');
  assert.equal(container.querySelector('img'), null);
  assert.equal(line.textContent, `Caption: ${XSS}`);
  assert.equal(line.className, 'igb-msg igb-msg--success');
  updateProgressMessage(line, XSS, '"><script>');
  assert.equal(container.querySelector('img, script'), null);
  assert.equal(line.className, 'igb-msg igb-msg--info', 'unknown types fall back to info');
  assert.equal(container.children.length, 1);
});

test('the view is an accessible progress bar with a polite status line', () => {
  const view = createProgressView(container, { title: 'Import @natgeo' });
  const bar = /** @type {Element} */ (container.querySelector('[role="progressbar"]'));
  assert.deepEqual(
    ['aria-valuemin', 'aria-valuemax', 'aria-valuenow', 'aria-label'].map((name) => bar.getAttribute(name)),
    ['0', '100', '0', 'Import @natgeo'],
  );
  assert.equal(container.querySelectorAll('[aria-live="polite"]').length, 1);
  assert.equal(view.element.querySelector('.igb-progress__title')?.textContent, 'Import @natgeo');
});

test('every state renders as designed', () => {
  const view = createProgressView(container, { title: 'Job' });
  assert.deepEqual(visible(view), {
    state: 'starting', className: 'igb-progress igb-progress--starting', icon: '', width: '', valuenow: '0',
    valuetext: 'Starting…', phase: '', count: '', rate: '', eta: '', status: 'Starting…',
  });
  view.update({ type: 'progress', status: 'running', percentage: 45, phase: 'importing', done: 9, total: 20, rate: 3.21, eta_seconds: 61, message: 'Imported post 9' });
  assert.deepEqual(visible(view), {
    state: 'running', className: 'igb-progress igb-progress--running', icon: '', width: '45%', valuenow: '45',
    valuetext: '45% (9 of 20)', phase: 'importing', count: '9 / 20', rate: '3.2 posts/s', eta: 'about 1 min left',
    status: 'Imported post 9',
  });
  view.update({ type: 'complete', status: 'complete', percentage: 100, phase: 'done', done: 20, total: 20, rate: 3.3, eta_seconds: 0, message: 'Imported 20 posts' });
  assert.deepEqual(visible(view), {
    state: 'complete', className: 'igb-progress igb-progress--complete', icon: '✓', width: '100%', valuenow: '100',
    valuetext: 'Complete', phase: 'done', count: '20 / 20', rate: '', eta: '', status: 'Imported 20 posts',
  });
  const failed = createProgressView(container, { title: 'Job' });
  failed.update({ type: 'error', status: 'error', done: 3, total: 20, message: 'Account is private' });
  assert.deepEqual(
    [visible(failed).className, visible(failed).icon, visible(failed).status, visible(failed).width],
    ['igb-progress igb-progress--error', '✕', 'Account is private', '15%'],
  );
  view.setState('cancelled');
  assert.deepEqual([visible(view).className, visible(view).icon], ['igb-progress igb-progress--cancelled', '–']);
  assert.throws(() => view.setState(/** @type {any} */ ('exploded')), /unknown state "exploded"/);
  assert.deepEqual(VIEW_STATES, ['starting', 'running', 'complete', 'error', 'cancelled']);
});

test('percentage comes from done/total when missing and is clamped', () => {
  const view = createProgressView(container);
  view.update({ status: 'running', done: 1, total: 3 });
  assert.deepEqual([visible(view).valuenow, visible(view).width], ['33', `${100 / 3}%`]);
  view.update({ status: 'running', percentage: 180 });
  assert.deepEqual([visible(view).valuenow, visible(view).width, visible(view).count], ['100', '100%', '']);
});

test('a caption with markup in a snapshot or title renders as text', () => {
  const view = createProgressView(container, { title: XSS });
  view.update({ status: 'running', message: XSS, phase: XSS });
  assert.equal(container.querySelector('img'), null);
  assert.equal(visible(view).status, XSS);
  assert.equal(visible(view).phase, XSS);
});

test('the status line only changes when the message does', () => {
  const view = createProgressView(container);
  const status = /** @type {Element} */ (view.element.querySelector('[aria-live]'));
  view.update({ status: 'running', message: 'Fetching' });
  const node = status.firstChild;
  view.update({ status: 'running', message: 'Fetching', percentage: 10 });
  assert.equal(status.firstChild, node, 'same text node: nothing re-announced');
  view.update({ status: 'running', percentage: 20 });
  assert.equal(status.textContent, 'Fetching', 'a tick without a message keeps the last one');
});

test('the bar never goes back; the rate is in the snapshot\'s unit; no ETA yet reads "estimating…"', () => {
  const view = createProgressView(container);
  view.update({ status: 'running', percentage: 48, phase: 'Reading media', done: 96, total: 100, rate: 3.2, rate_unit: 'MB/s', eta_seconds: null });
  assert.deepEqual([visible(view).valuenow, visible(view).rate, visible(view).eta], ['48', '3.2 MB/s', 'estimating…']);
  view.update({ status: 'running', percentage: 12, phase: 'Importing into WordPress', done: 2, total: 100, rate: 61, rate_unit: 'posts/s', eta_seconds: 90 });
  assert.deepEqual([visible(view).valuenow, visible(view).phase, visible(view).count, visible(view).rate, visible(view).eta],
    ['48', 'Importing into WordPress', '2 / 100', '61 posts/s', 'about 2 min left']);
  view.update({ status: 'error', percentage: 50, eta_seconds: null, message: 'WordPress refused' });
  assert.deepEqual([visible(view).valuenow, visible(view).eta], ['50', ''], 'a finished job estimates nothing');
});

test('a job known only by its status (a list without messages) reads as that status, not "Starting…"', () => {
  const view = createProgressView(container);
  view.update({ status: 'complete', percentage: 100, phase: 'Downloading media', done: 1, total: 1 });
  assert.deepEqual([visible(view).state, visible(view).status], ['complete', 'Complete']);
  const running = createProgressView(container);
  running.update({ status: 'running', percentage: 20 });
  assert.equal(visible(running).status, 'Running');
  running.update({ status: 'running', percentage: 30, message: 'Imported post 3' });
  running.update({ status: 'error', percentage: 30 });
  assert.equal(visible(running).status, 'Imported post 3', 'a message stays until another one comes');
});

test('labels translate the view', () => {
  const view = createProgressView(container, { labels: { of: 'von', unit: 'Beiträge', minutesLeft: 'noch etwa %d Min.' } });
  view.update({ status: 'running', percentage: 50, done: 5, total: 10, rate: 12.4, eta_seconds: 150 });
  assert.deepEqual([visible(view).valuetext, visible(view).rate, visible(view).eta], ['50% (5 von 10)', '12 Beiträge/s', 'noch etwa 3 Min.']);
});

test('rate and ETA wording', () => {
  assert.deepEqual([formatRate(0), formatRate(null), formatRate(0.25), formatRate(3.21), formatRate(12.6), formatRate(NaN)], ['', '', '0.3 posts/s', '3.2 posts/s', '13 posts/s', '']);
  assert.deepEqual([formatRate(2.5, 'MB/s'), formatRate(60, 'posts/s'), formatRate(4, 'files/s')], ['2.5 MB/s', '60 posts/s', '4.0 files/s']);
  assert.deepEqual(
    [formatEta(null), formatEta(-1), formatEta(3), formatEta(11), formatEta(59), formatEta(61), formatEta(1799), formatEta(7300)],
    ['', '', 'a few seconds left', 'about 20 s left', 'about 60 s left', 'about 1 min left', 'about 30 min left', 'about 2 h left'],
  );
});

/** A Notification stand-in recording what was shown. @param {string} permission @param {string} answer */
function fakeNotification(permission, answer) {
  return class {
    static permission = permission;
    static requests = 0;
    /** @type {Array<[string, object]>} */
    static shown = [];
    static async requestPermission() {
      this.requests++;
      this.permission = answer;
      return answer;
    }
    /** @param {string} title @param {object} options */
    constructor(title, options) { /** @type {any} */ (this.constructor).shown.push([title, options]); }
  };
}

/** An AudioContext stand-in recording oscillator frequencies. */
function fakeAudioContext() {
  const node = () => ({ connect: (/** @type {any} */ next) => next, frequency: { value: 0 }, gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, start() {}, stop() {} });
  return class {
    /** @type {number[]} */
    static played = [];
    currentTime = 0;
    destination = {};
    createGain() { return node(); }
    createOscillator() {
      const osc = node();
      const played = /** @type {any} */ (this.constructor).played;
      return { ...osc, start() { played.push(osc.frequency.value); } };
    }
    close() {}
  };
}

/** @param {HTMLInputElement} box */
async function click(box) {
  box.checked = !box.checked;
  box.dispatchEvent(new window.Event('change'));
  await new Promise((resolve) => setImmediate(resolve));
}

test('alerts are off by default and announce nothing', () => {
  g.Notification = fakeNotification('granted', 'granted');
  g.AudioContext = fakeAudioContext();
  const alerts = createNotifyToggles(container);
  const boxes = [...container.querySelectorAll('input[type="checkbox"]')].map((b) => /** @type {HTMLInputElement} */ (b).checked);
  assert.deepEqual(boxes, [false, false]);
  alerts.announce('igbridge', 'done', true);
  assert.deepEqual([g.Notification.shown, g.AudioContext.played], [[], []]);
});

test('turning the notification on asks permission from the click and remembers the choice', async () => {
  g.Notification = fakeNotification('default', 'granted');
  const alerts = createNotifyToggles(container);
  const notify = /** @type {HTMLInputElement} */ (container.querySelector('input[name="igbridge-notify"]'));
  await click(notify);
  assert.equal(g.Notification.requests, 1);
  assert.equal(localStorage.getItem('igbridge.progress.notify'), '1');
  alerts.announce('igbridge', 'Imported 20 posts', true);
  assert.deepEqual(g.Notification.shown, [['igbridge', { body: 'Imported 20 posts', tag: 'igbridge' }]]);
  container.replaceChildren();
  createNotifyToggles(container);
  assert.equal(/** @type {HTMLInputElement} */ (container.querySelector('input[name="igbridge-notify"]')).checked, true);
});

test('a denied permission unticks the box', async () => {
  g.Notification = fakeNotification('default', 'denied');
  createNotifyToggles(container);
  const notify = /** @type {HTMLInputElement} */ (container.querySelector('input[name="igbridge-notify"]'));
  await click(notify);
  assert.deepEqual([notify.checked, localStorage.getItem('igbridge.progress.notify')], [false, '0']);
});

test('the chime plays a rising pair when ok and a falling pair on failure, once opted in', async () => {
  g.AudioContext = fakeAudioContext();
  const alerts = createNotifyToggles(container);
  await click(/** @type {HTMLInputElement} */ (container.querySelector('input[name="igbridge-sound"]')));
  assert.equal(localStorage.getItem('igbridge.progress.sound'), '1');
  alerts.announce('igbridge', 'done', true);
  alerts.announce('igbridge', 'failed', false);
  assert.deepEqual(g.AudioContext.played, [660, 880, 440, 330]);
  assert.equal(playCompletionSound(true, null), false, 'no WebAudio: silently nothing');
});

test('labels of the toggles are text too', () => {
  createNotifyToggles(container, { labels: { sound: XSS } });
  assert.equal(container.querySelector('img'), null);
  assert.match(/** @type {string} */ (container.textContent), /<img src=x/);
});
