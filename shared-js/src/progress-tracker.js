// ProgressTracker: live progress of igbridge sessions over ONE EventSource per tab,
// however many sessions are watched (browsers allow 6 HTTP/1.1 connections per origin).
// API and types: README.md and types.d.ts beside this file in shared-js/.

/** @typedef {import('./types.js').TrackerOptions} TrackerOptions */
/** @typedef {import('./types.js').ProgressData} ProgressData */
/** @typedef {import('./types.js').ProgressCallback} ProgressCallback */
/** @typedef {import('./types.js').StreamToken} StreamToken */
/** @typedef {import('./types.js').TrackerStatus} TrackerStatus */
/** @typedef {import('./types.js').EventSourceLike} EventSourceLike */
/** @typedef {import('./types.js').Watch} Watch */
/** @typedef {import('./types.js').Seen} Seen */

/** Adds an id, forgetting the oldest beyond SEEN_PER_SESSION. @param {Set<string>} ids @param {string} id */
function remember(ids, id) {
  ids.add(id);
  if (ids.size > SEEN_PER_SESSION) ids.delete(ids.values().next().value ?? '');
}

const CLOSED = 2;
const TERMINAL = ['complete', 'error', 'cancelled'];
const SEEN_PER_SESSION = 256; // ids remembered per session for dedupe: a replay overlaps by a few at most
const noop = () => {};

/** Every default in one place; globals are read per tracker so tests can inject. @returns {TrackerOptions} */
export function defaultOptions() {
  const g = /** @type {any} */ (globalThis);
  return {
    streamUrl: '',
    getToken: null,
    onStatus: noop,
    EventSource: g.EventSource,
    fetch: (...args) => g.fetch(...args),
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (handle) => g.clearTimeout(handle),
    now: () => Date.now(),
    random: () => Math.random(),
    navigator: g.navigator,
    onlineEvents: g.window,
    debounceMs: 30,
    backoffBaseMs: 500,
    backoffMaxMs: 10000,
    offlineAfterFailures: 4,
    tokenMarginSeconds: 30,
  };
}

export class ProgressTracker {
  /** @type {TrackerOptions} */ #opt;
  /** @type {Map<string, Watch>} */ #sessions = new Map();
  /** @type {ProgressCallback | null} */ #all = null; // watchAll(): every frame of every session
  /** @type {Map<string, Seen>} */ #seen = new Map(); // per session; ids are opaque strings, never compared
  #lastEventId = ''; // the last SSE id received: where the next connection resumes, as the browser would
  #resuming = false; // this connection was opened with a resume point
  /** @type {EventSourceLike | null} */ #source = null;
  #openKey = '';
  /** @type {StreamToken | null} */ #token = null;
  /** @type {any} */ #timer = null;
  #failures = 0;
  #generation = 0;
  /** @type {TrackerStatus | null} */ #status = null;
  #closed = false;
  #onOnline = () => this.#online();
  #onOffline = () => this.#setStatus('offline');

  /** @param {Partial<TrackerOptions> & {streamUrl: string}} options */
  constructor(options) {
    if (!options?.streamUrl || typeof options.streamUrl !== 'string') {
      throw new TypeError('ProgressTracker: options.streamUrl is required (the sidecar /api/progress/stream URL)');
    }
    this.#opt = { ...defaultOptions(), ...options };
    if (typeof this.#opt.EventSource !== 'function') {
      throw new TypeError('ProgressTracker: no EventSource here; pass options.EventSource');
    }
    this.#opt.onlineEvents?.addEventListener('online', this.#onOnline);
    this.#opt.onlineEvents?.addEventListener('offline', this.#onOffline);
  }

  get status() { return this.#status; }
  get lastEventId() { return this.#lastEventId; }
  get sessionIds() { return [...this.#sessions.keys()]; }
  get watchingAll() { return this.#all !== null; }

  /**
   * Every frame of every session (and `job` lifecycle frames) on the one stream, with no
   * `session` parameter, so sessions created later are covered too; the token is asked
   * for `['*']`. Sessions watched with startTracking() still get their own callbacks.
   * @param {ProgressCallback} onFrame
   */
  watchAll(onFrame) {
    if (this.#closed) throw new Error('ProgressTracker: watchAll after close()');
    if (typeof onFrame !== 'function') throw new TypeError('ProgressTracker: onFrame must be a function');
    const wasAll = this.#all !== null;
    this.#all = onFrame;
    if (!wasAll) this.#schedule(this.#opt.debounceMs);
  }

  /** Back to the sessions watched one by one (the stream closes when there are none). */
  unwatchAll() {
    if (this.#all === null) return;
    this.#all = null;
    this.#forgetUnwatched();
    if (this.#active()) this.#schedule(this.#opt.debounceMs);
    else this.#disconnect();
  }

  /**
   * @param {string} sessionId
   * @param {ProgressCallback} onProgress snapshot and progress frames
   * @param {ProgressCallback} [onComplete] the complete frame
   * @param {ProgressCallback} [onError] error and cancelled frames (check data.type)
   */
  startTracking(sessionId, onProgress, onComplete = noop, onError = noop) {
    if (this.#closed) throw new Error('ProgressTracker: startTracking after close()');
    if (typeof sessionId !== 'string' || !sessionId) {
      throw new TypeError(`ProgressTracker: sessionId must be a non-empty string, got ${JSON.stringify(sessionId)}`);
    }
    for (const [name, fn] of Object.entries({ onProgress, onComplete, onError })) {
      if (typeof fn !== 'function') throw new TypeError(`ProgressTracker: ${name} must be a function`);
    }
    const known = this.#sessions.has(sessionId);
    this.#sessions.set(sessionId, { onProgress, onComplete, onError });
    if (!known && !this.#all) this.#schedule(this.#opt.debounceMs);
  }

  /** @param {string} sessionId @returns {boolean} whether it was watched */
  stopTracking(sessionId) {
    if (!this.#sessions.delete(sessionId)) return false;
    this.#forgetUnwatched();
    if (this.#all) return true;
    if (this.#sessions.size) this.#schedule(this.#opt.debounceMs);
    else this.#disconnect();
    return true;
  }

  close() {
    this.#closed = true;
    this.#sessions.clear();
    this.#all = null;
    this.#disconnect();
    this.#opt.onlineEvents?.removeEventListener('online', this.#onOnline);
    this.#opt.onlineEvents?.removeEventListener('offline', this.#onOffline);
  }

  /** One snapshot from GET /api/progress/status/{id}, next to streamUrl. @param {string} sessionId @returns {Promise<ProgressData>} */
  async fetchStatus(sessionId) {
    const url = this.#url(this.#opt.streamUrl.replace(/\/stream\/?$/, '/status/') + encodeURIComponent(sessionId));
    const token = await this.#freshToken([sessionId]);
    if (token) url.searchParams.set('token', token.token);
    const response = await this.#opt.fetch(url.href);
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(`igbridge status of ${sessionId}: ${body?.error?.message ?? `HTTP ${response.status}`}`);
    return body;
  }

  #active() {
    return this.#all !== null || this.#sessions.size > 0;
  }

  /** Ids (and the shown percentage) of a session nobody watches any more are dropped: if it is
   * watched again, its snapshot is new to us. */
  #forgetUnwatched() {
    if (this.#all) return;
    for (const id of this.#seen.keys()) if (!this.#sessions.has(id)) this.#seen.delete(id);
  }

  /** @param {string} path */
  #url(path) {
    return new URL(path, globalThis.location?.href);
  }

  /** @param {number} delay */
  #schedule(delay) {
    if (this.#timer !== null || this.#closed) return; // a pending connect picks up the sessions as they are then
    this.#timer = this.#opt.setTimeout(() => {
      this.#timer = null;
      void this.#connect();
    }, delay);
  }

  async #connect() {
    if (this.#closed || !this.#active()) return;
    if (this.#source && this.#source.readyState !== CLOSED && this.#openKey === this.#key()) return;
    const generation = ++this.#generation;
    if (!this.#source) this.#setStatus(this.#failures ? this.#troubleStatus() : 'connecting');
    /** @type {StreamToken | null} */
    let token;
    try {
      token = await this.#freshToken(this.#all ? ['*'] : this.sessionIds);
    } catch (err) {
      if (generation === this.#generation) this.#failed();
      return;
    }
    if (generation !== this.#generation || this.#closed || !this.#active()) return;
    const url = this.#url(this.#opt.streamUrl);
    // Sessions may have changed while the token was fetched; all of them: no list at all.
    if (!this.#all) for (const id of this.sessionIds) url.searchParams.append('session', id);
    if (token) url.searchParams.set('token', token.token);
    if (this.#lastEventId) url.searchParams.set('last_event_id', this.#lastEventId);
    this.#closeSource();
    const source = new this.#opt.EventSource(url.href);
    this.#source = source;
    this.#openKey = this.#key();
    this.#resuming = !!this.#lastEventId;
    source.onopen = () => { if (this.#source === source) this.#live(); };
    source.onmessage = (event) => { if (this.#source === source) this.#frame(event); };
    source.onerror = () => { if (this.#source === source) this.#sourceError(source); };
  }

  #key() {
    return this.#all ? '*' : this.sessionIds.join('\n');
  }

  /** @param {string[]} ids @returns {Promise<StreamToken | null>} */
  async #freshToken(ids) {
    const token = this.#token;
    if (!this.#opt.getToken) return null;
    const scope = token?.sessions;
    const covers = !scope || scope.includes('*') || ids.every((id) => scope.includes(id));
    if (token && covers && !this.#tokenNearExpiry()) return token;
    const fresh = await this.#opt.getToken(ids);
    if (typeof fresh?.token !== 'string' || typeof fresh.expires_at !== 'number') {
      throw new TypeError('ProgressTracker: getToken must resolve to {token: string, expires_at: number}');
    }
    return (this.#token = fresh);
  }

  #tokenNearExpiry() {
    const token = this.#token;
    return !!token && token.expires_at * 1000 - this.#opt.now() < this.#opt.tokenMarginSeconds * 1000;
  }

  /** @param {EventSourceLike} source */
  #sourceError(source) {
    // CLOSED: the browser gave up (401/502/503…); near expiry: its own retry would carry a stale token.
    if (source.readyState === CLOSED || this.#tokenNearExpiry()) {
      if (this.#failures) this.#token = null; // refused twice in a row: maybe revoked, ask again
      this.#closeSource();
      this.#failed();
    } else {
      this.#failures++; // the browser retries by itself after `retry:`, sending Last-Event-ID
      this.#resuming = !!this.#lastEventId;
      this.#setStatus(this.#troubleStatus());
    }
  }

  #failed() {
    this.#failures++;
    this.#setStatus(this.#troubleStatus());
    const { backoffBaseMs, backoffMaxMs, random } = this.#opt;
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.#failures - 1));
    this.#schedule(Math.round(ceiling / 2 + (random() * ceiling) / 2)); // jitter: tabs don't retry in step
  }

  /** @returns {TrackerStatus} */
  #troubleStatus() {
    const offline = this.#opt.navigator?.onLine === false || this.#failures >= this.#opt.offlineAfterFailures;
    return offline ? 'offline' : 'reconnecting';
  }

  #live() {
    this.#failures = 0;
    this.#setStatus('live');
  }

  #online() {
    if (this.#closed || !this.#active() || (this.#source && this.#source.readyState !== CLOSED)) return;
    this.#failures = 0;
    this.#clearTimer();
    this.#schedule(0);
  }

  /** @param {{data: string, lastEventId: string}} event */
  #frame(event) {
    /** @type {ProgressData} */
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not a progress frame
    }
    if (!data || typeof data !== 'object') return;
    this.#live();
    // As the browser does: a frame without an id keeps the last one (the sidecar puts one on
    // the last snapshot of a fresh stream: the point every later event comes after).
    if (event.lastEventId) this.#lastEventId = event.lastEventId;
    const sessionId = String(data.session_id ?? data.job?.session_id ?? '');
    const watch = this.#sessions.get(sessionId);
    if (!watch && !this.#all) return;
    if (!this.#fresh(sessionId, data, event.lastEventId)) return;
    const seen = this.#seenOf(sessionId);
    // The bar never goes back, whatever a replay or a restarted sidecar says.
    const progress = data.type === 'job' ? data.job?.progress : data;
    if (progress && typeof progress.percentage === 'number') {
      seen.percentage = progress.percentage = Math.max(seen.percentage, progress.percentage);
    }
    const terminal = data.type === 'snapshot' || data.type === 'reset' ? data.status : data.type;
    // A session that ended while we were away still gets its terminal callback.
    const final = TERMINAL.includes(terminal ?? '') && data.type !== terminal ? { ...data, type: String(terminal) } : data;
    if (this.#all) this.#call(this.#all, final);
    if (!watch || data.type === 'job') return;
    if (TERMINAL.includes(final.type)) this.#finish(sessionId, watch, final);
    else this.#call(watch.onProgress, final);
  }

  /** @param {string} sessionId @returns {Seen} */
  #seenOf(sessionId) {
    let seen = this.#seen.get(sessionId);
    if (!seen) this.#seen.set(sessionId, (seen = { ids: new Set(), percentage: 0, until: null }));
    return seen;
  }

  /**
   * Whether a frame is news. Ids are opaque, so nothing is compared by order: an id
   * already delivered is dropped; a snapshot covers its session's events up to its
   * `last_event_id`. On a resumed stream the sidecar sends snapshots, then replays what
   * came after the resume point: for a session we already follow the replay is the whole
   * story (its snapshot is dropped); for one new to us the snapshot is shown and the
   * replayed events it already holds are skipped, up to that id (or, should that id not
   * come, up to the snapshot's updated_at).
   * @param {string} sessionId @param {ProgressData} data @param {string} id
   */
  #fresh(sessionId, data, id) {
    const known = this.#seen.has(sessionId);
    const seen = this.#seenOf(sessionId);
    if (data.type === 'reset') {
      seen.ids.clear();
      seen.until = null;
      return true;
    }
    if (data.type === 'snapshot') {
      const covered = data.last_event_id == null ? '' : String(data.last_event_id);
      if (covered && seen.ids.has(covered)) return false;
      if (this.#resuming && known) return false;
      if (!covered) return true;
      remember(seen.ids, covered);
      if (this.#resuming) seen.until = { id: covered, at: Date.parse(data.updated_at ?? '') };
      return true;
    }
    if (!id) return true;
    if (seen.ids.has(id)) return false;
    remember(seen.ids, id);
    const until = seen.until;
    if (until && data.type !== 'job') {
      if (id === until.id) return (seen.until = null), false;
      const at = Date.parse(data.updated_at ?? '');
      if (Number.isNaN(at) || Number.isNaN(until.at) || at <= until.at) return false;
      seen.until = null;
    }
    return true;
  }

  /** @param {string} sessionId @param {Watch} watch @param {ProgressData} data */
  #finish(sessionId, watch, data) {
    // Dropped at once; the open stream keeps its URL until the next reopen, as nothing more comes for it.
    if (this.#sessions.get(sessionId) === watch) this.#sessions.delete(sessionId);
    if (!this.#all) this.#forgetUnwatched();
    if (!this.#active()) this.#disconnect();
    this.#call(data.type === 'complete' ? watch.onComplete : watch.onError, data);
  }

  /** @param {ProgressCallback} fn @param {ProgressData} data */
  #call(fn, data) {
    try {
      fn(data);
    } catch (err) {
      console.error(err); // one broken callback must not stop the stream for the others
    }
  }

  /** @param {TrackerStatus} status */
  #setStatus(status) {
    if (status === this.#status) return;
    this.#status = status;
    this.#opt.onStatus(status);
  }

  #clearTimer() {
    if (this.#timer !== null) this.#opt.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #closeSource() {
    this.#source?.close();
    this.#source = null;
    this.#openKey = '';
  }

  #disconnect() {
    this.#generation++;
    this.#clearTimer();
    this.#closeSource();
  }
}
