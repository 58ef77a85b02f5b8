import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressTracker, defaultOptions } from '../src/progress-tracker.js';
import { fakeClock, fakeEventSourceClass } from './support/fakes.js';

const STREAM = 'https://sidecar.test/api/progress/stream';

/** A tracker wired to fakes; tokens t1, t2… valid for `tokenTtl` seconds. */
function setup({ tokenTtl = 300, ...overrides } = {}) {
  const ES = fakeEventSourceClass();
  const clock = fakeClock();
  /** @type {string[]} */
  const statuses = [];
  /** @type {string[][]} */
  const tokenRequests = [];
  const tracker = new ProgressTracker({
    streamUrl: STREAM,
    EventSource: ES,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    random: () => 0.5,
    navigator: { onLine: true },
    onlineEvents: undefined,
    getToken: async (ids) => {
      tokenRequests.push(ids);
      return { token: `t${tokenRequests.length}`, expires_at: clock.now() / 1000 + tokenTtl };
    },
    onStatus: (status) => statuses.push(status),
    ...overrides,
  });
  return { ES, clock, tracker, statuses, tokenRequests, latest: () => ES.instances.at(-1) };
}

/** Records which callback got what, in order. */
function recorder() {
  /** @type {Array<[string, any]>} */
  const calls = [];
  return {
    calls,
    /** @param {ProgressTracker} tracker @param {string} id */
    track(tracker, id) {
      tracker.startTracking(
        id,
        (d) => calls.push(['progress', d]),
        (d) => calls.push(['complete', d]),
        (d) => calls.push(['error', d]),
      );
    },
    /** [callback, type, session, extra field] per call, for whole-value asserts. */
    summary: (field = 'step') => calls.map(([cb, d]) => [cb, d.type, d.session_id, d[field]]),
  };
}

/** @param {string} session @param {object} fields */
const snapshot = (session, fields = {}) => ({ type: 'snapshot', session_id: session, status: 'running', last_event_id: null, ...fields });
/** @param {string} session @param {number} step */
const progress = (session, step) => ({ type: 'progress', session_id: session, status: 'running', step });

test('options: streamUrl and EventSource are required, with clear messages', () => {
  assert.throws(() => new ProgressTracker(/** @type {any} */ ({})), /options\.streamUrl is required/);
  assert.throws(() => new ProgressTracker({ streamUrl: STREAM, EventSource: /** @type {any} */ (undefined) }), /pass options\.EventSource/);
  const { tracker } = setup();
  assert.throws(() => tracker.startTracking('', () => {}), /sessionId must be a non-empty string, got ""/);
  assert.throws(() => tracker.startTracking('a', /** @type {any} */ ('nope')), /onProgress must be a function/);
  const defaults = defaultOptions();
  assert.deepEqual(
    [defaults.debounceMs, defaults.backoffBaseMs, defaults.backoffMaxMs, defaults.offlineAfterFailures, defaults.tokenMarginSeconds],
    [30, 500, 10000, 4, 30],
  );
});

test('five sessions started together share one EventSource whose URL names them all', async () => {
  const { ES, clock, tracker, tokenRequests } = setup();
  const rec = recorder();
  for (const id of ['a', 'b', 'c', 'd', 'e']) rec.track(tracker, id);
  assert.equal(ES.instances.length, 0, 'nothing opens before the debounce');
  await clock.advance(30);
  assert.equal(ES.instances.length, 1);
  const source = ES.instances[0];
  assert.equal(source.url, `${STREAM}?session=a&session=b&session=c&session=d&session=e&token=t1`);
  assert.deepEqual(tokenRequests, [['a', 'b', 'c', 'd', 'e']]);
  assert.deepEqual(tracker.sessionIds, ['a', 'b', 'c', 'd', 'e']);
});

test('frames go to the callback chosen by type; heartbeats and junk are ignored', async () => {
  const { clock, tracker, latest } = setup();
  const rec = recorder();
  for (const id of ['a', 'b', 'c', 'd']) rec.track(tracker, id);
  await clock.advance(30);
  const source = latest();
  source.feed('retry: 2000\n\n: hb\n\n');
  source.frame(null, snapshot('a', { step: 0 }));
  source.frame(1, progress('a', 1));
  source.feed('id: 2\ndata: not json\n\n');
  source.frame(3, { type: 'complete', session_id: 'a', status: 'complete', step: 2 });
  source.frame(4, { type: 'error', session_id: 'b', status: 'error', step: 0 });
  source.frame(5, { type: 'cancelled', session_id: 'c', status: 'cancelled', step: 0 });
  source.frame(6, progress('zzz', 1)); // a session nobody watches
  source.feed('id: 7\ndata: {"type":"progress",\ndata: "session_id":"d","step":9}\n\n'); // multi-line data
  assert.deepEqual(rec.summary(), [
    ['progress', 'snapshot', 'a', 0],
    ['progress', 'progress', 'a', 1],
    ['complete', 'complete', 'a', 2],
    ['error', 'error', 'b', 0],
    ['error', 'cancelled', 'c', 0],
    ['progress', 'progress', 'd', 9],
  ]);
  assert.equal(tracker.lastEventId, '7');
});

test('ids are opaque strings: an id already delivered is dropped, none is parsed or ordered', async () => {
  const { clock, tracker, latest } = setup();
  const rec = recorder();
  rec.track(tracker, 'a');
  await clock.advance(30);
  const source = latest();
  // Redis-style ids: "9-0" would parse as 9, "10-0" as 10, "1e3" as 1000.
  source.frame('1701-10', progress('a', 5));
  source.frame('1701-10', progress('a', 5)); // the same id again: dropped
  source.frame('1701-9', progress('a', 6)); // "lower" by any numeric reading: still new
  source.frame('1e3', progress('a', 7));
  source.frame('1e3', progress('a', 7));
  assert.deepEqual(rec.summary(), [
    ['progress', 'progress', 'a', 5],
    ['progress', 'progress', 'a', 6],
    ['progress', 'progress', 'a', 7],
  ]);
  assert.equal(tracker.lastEventId, '1e3');
  source.failClosed();
  await clock.advance(clock.pending()[0]);
  assert.equal(latest().params.get('last_event_id'), '1e3', 'resumes from the id exactly as received');
});

test('resume after the browser gives up: backoff, last_event_id as received, the replay is delivered once', async () => {
  const { ES, clock, tracker, latest, statuses } = setup();
  const rec = recorder();
  rec.track(tracker, 'a');
  rec.track(tracker, 'b');
  await clock.advance(30);
  let source = latest();
  source.open();
  // A fresh stream: one snapshot per session, the last one carrying the stream's mark.
  source.frame(null, snapshot('a', { step: 0, last_event_id: 'e9' }));
  source.frame('e9', snapshot('b', { step: 0, last_event_id: 'e8' }));
  assert.equal(tracker.lastEventId, 'e9', 'the mark on the last snapshot is where a resume starts');
  source.frame('e10', progress('a', 1));
  source.frame('e11', progress('b', 1));
  source.failClosed(); // e.g. 502 from a proxy while the sidecar restarts
  assert.equal(source.closedByClient, true);
  assert.deepEqual(clock.pending(), [375], 'first retry after 500 ms with jitter (random 0.5 → 375)');
  await clock.advance(375);
  assert.equal(ES.instances.length, 2);
  source = latest();
  assert.equal(source.params.get('last_event_id'), 'e11');
  assert.deepEqual(source.sessions, ['a', 'b']);
  // Server: one snapshot per session (no id: resuming), then every event after e11, then live.
  source.frame(null, snapshot('a', { step: 3, last_event_id: 'e14' }));
  source.frame(null, snapshot('b', { step: 2, last_event_id: 'e13' }));
  assert.equal(tracker.lastEventId, 'e11', 'snapshots without an id do not move the resume point');
  source.frame('e12', progress('a', 2)); // replayed: followed sessions get the whole story
  source.frame('e13', progress('b', 2));
  source.frame('e14', progress('a', 3));
  source.frame('e15', progress('b', 3)); // live
  source.frame('e16', progress('a', 4));
  assert.deepEqual(rec.summary(), [
    ['progress', 'snapshot', 'a', 0],
    ['progress', 'snapshot', 'b', 0],
    ['progress', 'progress', 'a', 1],
    ['progress', 'progress', 'b', 1],
    ['progress', 'progress', 'a', 2],
    ['progress', 'progress', 'b', 2],
    ['progress', 'progress', 'a', 3],
    ['progress', 'progress', 'b', 3],
    ['progress', 'progress', 'a', 4],
  ]);
  assert.equal(tracker.lastEventId, 'e16');
  assert.deepEqual(statuses, ['connecting', 'live', 'reconnecting', 'live']);
});

test('a session new to a resumed stream shows its snapshot and skips the replayed events it holds', async () => {
  const { clock, tracker, latest } = setup();
  const rec = recorder();
  rec.track(tracker, 'a');
  await clock.advance(30);
  latest().frame('e5', progress('a', 1));
  rec.track(tracker, 'b'); // reopens with last_event_id e5
  await clock.advance(30);
  const source = latest();
  assert.equal(source.params.get('last_event_id'), 'e5');
  source.frame(null, snapshot('a', { step: 1, last_event_id: 'e5' })); // nothing new for a
  source.frame(null, snapshot('b', { step: 2, last_event_id: 'e7', updated_at: '2026-12-02T04:00:02.000Z' }));
  source.frame('e6', { ...progress('b', 1), updated_at: '2026-12-02T04:00:01.000Z' }); // in b's snapshot
  source.frame('e7', { ...progress('b', 2), updated_at: '2026-12-02T04:00:02.000Z' }); // so is this one
  source.frame('e8', { ...progress('b', 3), updated_at: '2026-12-02T04:00:03.000Z' }); // news
  assert.deepEqual(rec.summary(), [
    ['progress', 'progress', 'a', 1],
    ['progress', 'snapshot', 'b', 2],
    ['progress', 'progress', 'b', 3],
  ]);
});

test('a snapshot whose events are not replayed stops the skipping at the first later event', async () => {
  const { clock, tracker, latest } = setup();
  const rec = recorder();
  rec.track(tracker, 'a');
  await clock.advance(30);
  latest().frame('e20', progress('a', 1));
  rec.track(tracker, 'b'); // b's events all came before e20: nothing of b is replayed
  await clock.advance(30);
  latest().frame(null, snapshot('b', { step: 4, last_event_id: 'e3', updated_at: '2026-12-02T04:00:00.000Z' }));
  latest().frame('e21', { ...progress('b', 5), updated_at: '2026-12-02T04:00:09.000Z' });
  assert.deepEqual(rec.summary(), [
    ['progress', 'progress', 'a', 1],
    ['progress', 'snapshot', 'b', 4],
    ['progress', 'progress', 'b', 5],
  ]);
});

test('the percentage delivered for a session never goes down', async () => {
  const { clock, tracker, latest } = setup();
  const rec = recorder();
  rec.track(tracker, 'a');
  await clock.advance(30);
  for (const [id, percentage] of [['1', 10], ['2', 48.5], ['3', 30], ['4', 0], ['5', 61]]) {
    latest().frame(id, { ...progress('a', Number(id)), percentage });
  }
  latest().frame('6', { type: 'reset', session_id: 'a', status: 'running', percentage: 20, last_event_id: '6' });
  assert.deepEqual(rec.calls.map(([, d]) => d.percentage), [10, 48.5, 48.5, 48.5, 61, 61]);
});

test('backoff doubles with jitter up to the 10 s cap and resets once live', async () => {
  let roll = 0;
  const { clock, tracker, latest, statuses } = setup({ random: () => [0, 1][roll++ % 2] });
  recorder().track(tracker, 'a');
  await clock.advance(30);
  /** @type {number[]} */
  const delays = [];
  for (let i = 0; i < 7; i++) {
    latest().failClosed();
    delays.push(...clock.pending());
    await clock.advance(clock.pending()[0]);
  }
  // ceilings 500, 1000, 2000, 4000, 8000, 10000, 10000; random alternates 0 (half) and 1 (full)
  assert.deepEqual(delays, [250, 1000, 1000, 4000, 4000, 10000, 5000]);
  assert.deepEqual(statuses, ['connecting', 'reconnecting', 'offline']);
  latest().open();
  latest().failClosed();
  assert.deepEqual(clock.pending(), [500], 'backoff starts over after a good connection');
  assert.deepEqual(statuses, ['connecting', 'reconnecting', 'offline', 'live', 'reconnecting']);
});

test('while the browser retries by itself the tracker waits; offline after repeated failures; live on the next frame', async () => {
  const { ES, clock, tracker, latest, statuses } = setup();
  recorder().track(tracker, 'a');
  await clock.advance(30);
  latest().open();
  for (let i = 0; i < 4; i++) latest().dropAndRetry();
  assert.equal(ES.instances.length, 1, 'no second EventSource while the first retries');
  assert.deepEqual(clock.pending(), []);
  latest().frame(1, progress('a', 1));
  assert.deepEqual(statuses, ['connecting', 'live', 'reconnecting', 'offline', 'live']);
});

test('navigator.onLine false reports offline; the online event reconnects at once', async () => {
  /** @type {Record<string, () => void>} */
  const listeners = {};
  const onlineEvents = {
    /** @param {string} type @param {() => void} fn */
    addEventListener: (type, fn) => { listeners[type] = fn; },
    /** @param {string} type */
    removeEventListener: (type) => { delete listeners[type]; },
  };
  const navigator = { onLine: true };
  const { ES, clock, tracker, latest, statuses } = setup({ navigator, onlineEvents });
  recorder().track(tracker, 'a');
  await clock.advance(30);
  navigator.onLine = false;
  listeners.offline();
  latest().failClosed();
  assert.deepEqual(statuses, ['connecting', 'offline']);
  navigator.onLine = true;
  listeners.online();
  await clock.advance(0);
  assert.equal(ES.instances.length, 2, 'reconnected without waiting for the backoff');
  tracker.close();
  assert.deepEqual(Object.keys(listeners), []);
});

test('an expired token is replaced before reconnecting; a fresh one is reused', async () => {
  const { clock, tracker, latest, tokenRequests } = setup({ tokenTtl: 60 });
  recorder().track(tracker, 'a');
  await clock.advance(30);
  assert.equal(latest().params.get('token'), 't1');
  latest().failClosed();
  await clock.advance(1000);
  assert.equal(latest().params.get('token'), 't1', 'still 59 s left: reused');
  await clock.advance(40_000); // now within 30 s of expiry
  latest().dropAndRetry(); // the browser would retry with the stale token: the tracker takes over
  assert.equal(latest().closedByClient, true);
  await clock.advance(clock.pending()[0]);
  assert.equal(latest().params.get('token'), 't2');
  assert.deepEqual(tokenRequests, [['a'], ['a']]);
});

test('a token scoped to other sessions is replaced when a session is added', async () => {
  const { ES, clock, tracker, latest, tokenRequests } = setup({
    getToken: async (/** @type {string[]} */ ids) => {
      tokenRequests.push(ids);
      return { token: `t${tokenRequests.length}`, expires_at: clock.now() / 1000 + 300, sessions: ids };
    },
  });
  recorder().track(tracker, 'a');
  await clock.advance(30);
  recorder().track(tracker, 'b');
  await clock.advance(30);
  assert.equal(ES.instances.length, 2);
  assert.equal(latest().url, `${STREAM}?session=a&session=b&token=t2`);
  assert.deepEqual(tokenRequests, [['a'], ['a', 'b']]);
});

test('a failing getToken counts as a failed connect and is retried', async () => {
  let fail = true;
  const { ES, clock, tracker, statuses } = setup({
    getToken: async () => {
      if (fail) throw new Error('WordPress said 403');
      return { token: 'ok', expires_at: clock.now() / 1000 + 300 };
    },
  });
  recorder().track(tracker, 'a');
  await clock.advance(30);
  assert.equal(ES.instances.length, 0);
  assert.deepEqual(statuses, ['connecting', 'reconnecting']);
  fail = false;
  await clock.advance(clock.pending()[0]);
  assert.equal(ES.instances[0].params.get('token'), 'ok');
});

test('a malformed token is reported, not sent', async () => {
  const { ES, clock, tracker, statuses } = setup({ getToken: async () => /** @type {any} */ ({ token: 1 }) });
  recorder().track(tracker, 'a');
  await clock.advance(30);
  assert.equal(ES.instances.length, 0);
  assert.deepEqual(statuses, ['connecting', 'reconnecting']);
});

test('terminal events drop their session; the next reopen leaves it out; the last one closes the stream', async () => {
  const { ES, clock, tracker, latest } = setup();
  const rec = recorder();
  rec.track(tracker, 'a');
  rec.track(tracker, 'b');
  await clock.advance(30);
  const first = latest();
  first.frame(1, { type: 'complete', session_id: 'a', status: 'complete' });
  first.frame(2, progress('a', 99)); // nothing more is delivered for a
  assert.deepEqual(tracker.sessionIds, ['b']);
  rec.track(tracker, 'c');
  await clock.advance(30);
  assert.deepEqual(latest().sessions, ['b', 'c']);
  assert.equal(latest().params.get('last_event_id'), '2');
  assert.equal(first.closedByClient, true);
  latest().frame(3, { type: 'cancelled', session_id: 'b', status: 'cancelled' });
  latest().frame(4, { type: 'error', session_id: 'c', status: 'error' });
  assert.equal(latest().closedByClient, true, 'no session left: stream closed');
  assert.deepEqual(clock.pending(), []);
  assert.equal(ES.instances.length, 2);
  assert.deepEqual(rec.summary('status'), [
    ['complete', 'complete', 'a', 'complete'],
    ['error', 'cancelled', 'b', 'cancelled'],
    ['error', 'error', 'c', 'error'],
  ]);
});

test('stopTracking reopens the one connection without the session; the last stop closes it', async () => {
  const { ES, clock, tracker, latest } = setup();
  const rec = recorder();
  rec.track(tracker, 'a');
  rec.track(tracker, 'b');
  await clock.advance(30);
  latest().frame(7, progress('b', 1));
  assert.equal(tracker.stopTracking('a'), true);
  assert.equal(tracker.stopTracking('a'), false);
  await clock.advance(30);
  assert.equal(ES.instances.length, 2);
  assert.equal(ES.instances[0].closedByClient, true);
  assert.equal(latest().url, `${STREAM}?session=b&token=t1&last_event_id=7`);
  tracker.stopTracking('b');
  assert.equal(latest().closedByClient, true);
  assert.deepEqual(clock.pending(), []);
});

test('close() stops the stream and timers; the tracker cannot be reused', async () => {
  const { ES, clock, tracker, latest } = setup();
  recorder().track(tracker, 'a');
  await clock.advance(30);
  latest().failClosed();
  assert.equal(clock.pending().length, 1);
  tracker.close();
  assert.deepEqual(clock.pending(), []);
  await clock.advance(60_000);
  assert.equal(ES.instances.length, 1);
  assert.throws(() => recorder().track(tracker, 'b'), /startTracking after close\(\)/);
});

test('close() during the token request opens nothing', async () => {
  /** @type {(value: any) => void} */
  let release = () => {};
  const { ES, clock, tracker } = setup({ getToken: () => new Promise((resolve) => { release = resolve; }) });
  recorder().track(tracker, 'a');
  await clock.advance(30);
  tracker.close();
  release({ token: 'late', expires_at: clock.now() / 1000 + 300 });
  await clock.advance(0);
  assert.equal(ES.instances.length, 0);
});

test('a throwing callback does not stop delivery to the others', async (t) => {
  const logged = t.mock.method(console, 'error', () => {});
  const { clock, tracker, latest } = setup();
  const rec = recorder();
  tracker.startTracking('a', () => { throw new Error('broken page code'); });
  rec.track(tracker, 'b');
  await clock.advance(30);
  latest().frame(1, progress('a', 1));
  latest().frame(2, progress('b', 1));
  assert.deepEqual(rec.summary(), [['progress', 'progress', 'b', 1]]);
  assert.equal(logged.mock.callCount(), 1);
});

test('without getToken no token is sent; a relative streamUrl resolves against the page', async () => {
  const { clock, tracker, latest } = setup({ getToken: null, streamUrl: 'http://127.0.0.1:9/api/progress/stream/' });
  recorder().track(tracker, 'x y');
  await clock.advance(30);
  assert.equal(latest().url, 'http://127.0.0.1:9/api/progress/stream/?session=x+y');
});

test('refused twice in a row, the token is replaced even before expiry (it may have been revoked)', async () => {
  const { clock, tracker, latest, tokenRequests } = setup();
  recorder().track(tracker, 'a');
  await clock.advance(30);
  latest().failClosed();
  await clock.advance(clock.pending()[0]);
  assert.equal(latest().params.get('token'), 't1', 'one refusal may be a proxy hiccup');
  latest().failClosed();
  await clock.advance(clock.pending()[0]);
  assert.equal(latest().params.get('token'), 't2');
  assert.equal(tokenRequests.length, 2);
});

test('watchAll: one stream for every session with a token for "*"; job frames and every session reach it', async () => {
  const { ES, clock, tracker, latest, tokenRequests } = setup();
  /** @type {any[]} */
  const all = [];
  tracker.watchAll((d) => all.push([d.type, d.session_id ?? d.job?.session_id]));
  tracker.watchAll((d) => all.push([d.type, d.session_id ?? d.job?.session_id])); // replaces, no second stream
  await clock.advance(30);
  assert.equal(ES.instances.length, 1);
  assert.equal(latest().url, `${STREAM}?token=t1`);
  assert.deepEqual(tokenRequests, [['*']]);
  const rec = recorder();
  rec.track(tracker, 'b'); // covered already: no reopen
  await clock.advance(30);
  assert.equal(ES.instances.length, 1);
  latest().frame('1', { type: 'job', job: { job_id: 'a', session_id: 'a', status: 'queued', progress: { percentage: 0 } } });
  latest().frame('2', progress('a', 1));
  latest().frame('2', progress('a', 1));
  latest().frame('3', { type: 'complete', session_id: 'b', status: 'complete' });
  latest().frame('4', progress('c', 1));
  assert.deepEqual(all, [['job', 'a'], ['progress', 'a'], ['complete', 'b'], ['progress', 'c']]);
  assert.deepEqual(rec.summary('status'), [['complete', 'complete', 'b', 'complete']]);
  assert.equal(latest().closedByClient, undefined, 'a finished session does not close the all-sessions stream');
  tracker.unwatchAll();
  assert.equal(latest().closedByClient, true, 'nothing left to watch');
  assert.equal(tracker.watchingAll, false);
});

test('watchAll: a job frame\'s percentage never goes below what its session showed', async () => {
  const { clock, tracker, latest } = setup();
  /** @type {number[]} */
  const shown = [];
  tracker.watchAll((d) => shown.push(d.type === 'job' ? d.job.progress.percentage : d.percentage));
  await clock.advance(30);
  latest().frame('1', { ...progress('a', 5), percentage: 40 });
  latest().frame('2', { type: 'job', job: { job_id: 'a', session_id: 'a', status: 'running', progress: { percentage: 12 } } });
  latest().frame('3', { ...progress('a', 6), percentage: 45 });
  assert.deepEqual(shown, [40, 40, 45]);
});
