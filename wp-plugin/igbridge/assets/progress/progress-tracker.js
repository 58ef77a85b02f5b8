// generated from shared-js/src by sync.sh; edit there
function remember(ids, id) {
	ids.add(id);
	if (ids.size > SEEN_PER_SESSION)
		ids.delete(ids.values().next().value ?? '');
}
const CLOSED = 2;
const TERMINAL = ['complete', 'error', 'cancelled'];
const SEEN_PER_SESSION = 256;
const noop = () => { };
export function defaultOptions() {
	const g = (globalThis);
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
	#opt;
	#sessions = new Map();
	#all = null;
	#seen = new Map();
	#lastEventId = '';
	#resuming = false;
	#source = null;
	#openKey = '';
	#token = null;
	#timer = null;
	#failures = 0;
	#generation = 0;
	#status = null;
	#closed = false;
	#onOnline = () => this.#online();
	#onOffline = () => this.#setStatus('offline');
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
	watchAll(onFrame) {
		if (this.#closed)
			throw new Error('ProgressTracker: watchAll after close()');
		if (typeof onFrame !== 'function')
			throw new TypeError('ProgressTracker: onFrame must be a function');
		const wasAll = this.#all !== null;
		this.#all = onFrame;
		if (!wasAll)
			this.#schedule(this.#opt.debounceMs);
	}
	unwatchAll() {
		if (this.#all === null)
			return;
		this.#all = null;
		this.#forgetUnwatched();
		if (this.#active())
			this.#schedule(this.#opt.debounceMs);
		else
			this.#disconnect();
	}
	startTracking(sessionId, onProgress, onComplete = noop, onError = noop) {
		if (this.#closed)
			throw new Error('ProgressTracker: startTracking after close()');
		if (typeof sessionId !== 'string' || !sessionId) {
			throw new TypeError(`ProgressTracker: sessionId must be a non-empty string, got ${JSON.stringify(sessionId)}`);
		}
		for (const [name, fn] of Object.entries({ onProgress, onComplete, onError })) {
			if (typeof fn !== 'function')
				throw new TypeError(`ProgressTracker: ${name} must be a function`);
		}
		const known = this.#sessions.has(sessionId);
		this.#sessions.set(sessionId, { onProgress, onComplete, onError });
		if (!known && !this.#all)
			this.#schedule(this.#opt.debounceMs);
	}
	stopTracking(sessionId) {
		if (!this.#sessions.delete(sessionId))
			return false;
		this.#forgetUnwatched();
		if (this.#all)
			return true;
		if (this.#sessions.size)
			this.#schedule(this.#opt.debounceMs);
		else
			this.#disconnect();
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
	async fetchStatus(sessionId) {
		const url = this.#url(this.#opt.streamUrl.replace(/\/stream\/?$/, '/status/') + encodeURIComponent(sessionId));
		const token = await this.#freshToken([sessionId]);
		if (token)
			url.searchParams.set('token', token.token);
		const response = await this.#opt.fetch(url.href);
		const body = await response.json().catch(() => null);
		if (!response.ok)
			throw new Error(`igbridge status of ${sessionId}: ${body?.error?.message ?? `HTTP ${response.status}`}`);
		return body;
	}
	#active() {
		return this.#all !== null || this.#sessions.size > 0;
	}
	#forgetUnwatched() {
		if (this.#all)
			return;
		for (const id of this.#seen.keys())
			if (!this.#sessions.has(id))
				this.#seen.delete(id);
	}
	#url(path) {
		return new URL(path, globalThis.location?.href);
	}
	#schedule(delay) {
		if (this.#timer !== null || this.#closed)
			return;
		this.#timer = this.#opt.setTimeout(() => {
			this.#timer = null;
			void this.#connect();
		}, delay);
	}
	async #connect() {
		if (this.#closed || !this.#active())
			return;
		if (this.#source && this.#source.readyState !== CLOSED && this.#openKey === this.#key())
			return;
		const generation = ++this.#generation;
		if (!this.#source)
			this.#setStatus(this.#failures ? this.#troubleStatus() : 'connecting');
		let token;
		try {
			token = await this.#freshToken(this.#all ? ['*'] : this.sessionIds);
		}
		catch (err) {
			if (generation === this.#generation)
				this.#failed();
			return;
		}
		if (generation !== this.#generation || this.#closed || !this.#active())
			return;
		const url = this.#url(this.#opt.streamUrl);
		if (!this.#all)
			for (const id of this.sessionIds)
				url.searchParams.append('session', id);
		if (token)
			url.searchParams.set('token', token.token);
		if (this.#lastEventId)
			url.searchParams.set('last_event_id', this.#lastEventId);
		this.#closeSource();
		const source = new this.#opt.EventSource(url.href);
		this.#source = source;
		this.#openKey = this.#key();
		this.#resuming = !!this.#lastEventId;
		source.onopen = () => { if (this.#source === source)
			this.#live(); };
		source.onmessage = (event) => { if (this.#source === source)
			this.#frame(event); };
		source.onerror = () => { if (this.#source === source)
			this.#sourceError(source); };
	}
	#key() {
		return this.#all ? '*' : this.sessionIds.join('\n');
	}
	async #freshToken(ids) {
		const token = this.#token;
		if (!this.#opt.getToken)
			return null;
		const scope = token?.sessions;
		const covers = !scope || scope.includes('*') || ids.every((id) => scope.includes(id));
		if (token && covers && !this.#tokenNearExpiry())
			return token;
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
	#sourceError(source) {
		if (source.readyState === CLOSED || this.#tokenNearExpiry()) {
			if (this.#failures)
				this.#token = null;
			this.#closeSource();
			this.#failed();
		}
		else {
			this.#failures++;
			this.#resuming = !!this.#lastEventId;
			this.#setStatus(this.#troubleStatus());
		}
	}
	#failed() {
		this.#failures++;
		this.#setStatus(this.#troubleStatus());
		const { backoffBaseMs, backoffMaxMs, random } = this.#opt;
		const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.#failures - 1));
		this.#schedule(Math.round(ceiling / 2 + (random() * ceiling) / 2));
	}
	#troubleStatus() {
		const offline = this.#opt.navigator?.onLine === false || this.#failures >= this.#opt.offlineAfterFailures;
		return offline ? 'offline' : 'reconnecting';
	}
	#live() {
		this.#failures = 0;
		this.#setStatus('live');
	}
	#online() {
		if (this.#closed || !this.#active() || (this.#source && this.#source.readyState !== CLOSED))
			return;
		this.#failures = 0;
		this.#clearTimer();
		this.#schedule(0);
	}
	#frame(event) {
		let data;
		try {
			data = JSON.parse(event.data);
		}
		catch {
			return;
		}
		if (!data || typeof data !== 'object')
			return;
		this.#live();
		if (event.lastEventId)
			this.#lastEventId = event.lastEventId;
		const sessionId = String(data.session_id ?? data.job?.session_id ?? '');
		const watch = this.#sessions.get(sessionId);
		if (!watch && !this.#all)
			return;
		if (!this.#fresh(sessionId, data, event.lastEventId))
			return;
		const seen = this.#seenOf(sessionId);
		const progress = data.type === 'job' ? data.job?.progress : data;
		if (progress && typeof progress.percentage === 'number') {
			seen.percentage = progress.percentage = Math.max(seen.percentage, progress.percentage);
		}
		const terminal = data.type === 'snapshot' || data.type === 'reset' ? data.status : data.type;
		const final = TERMINAL.includes(terminal ?? '') && data.type !== terminal ? { ...data, type: String(terminal) } : data;
		if (this.#all)
			this.#call(this.#all, final);
		if (!watch || data.type === 'job')
			return;
		if (TERMINAL.includes(final.type))
			this.#finish(sessionId, watch, final);
		else
			this.#call(watch.onProgress, final);
	}
	#seenOf(sessionId) {
		let seen = this.#seen.get(sessionId);
		if (!seen)
			this.#seen.set(sessionId, (seen = { ids: new Set(), percentage: 0, until: null }));
		return seen;
	}
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
			if (covered && seen.ids.has(covered))
				return false;
			if (this.#resuming && known)
				return false;
			if (!covered)
				return true;
			remember(seen.ids, covered);
			if (this.#resuming)
				seen.until = { id: covered, at: Date.parse(data.updated_at ?? '') };
			return true;
		}
		if (!id)
			return true;
		if (seen.ids.has(id))
			return false;
		remember(seen.ids, id);
		const until = seen.until;
		if (until && data.type !== 'job') {
			if (id === until.id)
				return (seen.until = null), false;
			const at = Date.parse(data.updated_at ?? '');
			if (Number.isNaN(at) || Number.isNaN(until.at) || at <= until.at)
				return false;
			seen.until = null;
		}
		return true;
	}
	#finish(sessionId, watch, data) {
		if (this.#sessions.get(sessionId) === watch)
			this.#sessions.delete(sessionId);
		if (!this.#all)
			this.#forgetUnwatched();
		if (!this.#active())
			this.#disconnect();
		this.#call(data.type === 'complete' ? watch.onComplete : watch.onError, data);
	}
	#call(fn, data) {
		try {
			fn(data);
		}
		catch (err) {
			console.error(err);
		}
	}
	#setStatus(status) {
		if (status === this.#status)
			return;
		this.#status = status;
		this.#opt.onStatus(status);
	}
	#clearTimer() {
		if (this.#timer !== null)
			this.#opt.clearTimeout(this.#timer);
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
