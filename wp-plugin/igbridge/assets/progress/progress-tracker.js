// generated from shared-js/src by sync.sh; edit there
const CLOSED = 2;
const TERMINAL = ['complete', 'error', 'cancelled'];
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
	#lastEventId = 0;
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
		const seenId = this.#sessions.get(sessionId)?.seenId ?? 0;
		this.#sessions.set(sessionId, { onProgress, onComplete, onError, seenId });
		this.#schedule(this.#opt.debounceMs);
	}
	stopTracking(sessionId) {
		if (!this.#sessions.delete(sessionId))
			return false;
		if (this.#sessions.size)
			this.#schedule(this.#opt.debounceMs);
		else
			this.#disconnect();
		return true;
	}
	close() {
		this.#closed = true;
		this.#sessions.clear();
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
		if (this.#closed || !this.#sessions.size)
			return;
		if (this.#source && this.#source.readyState !== CLOSED && this.#openKey === this.sessionIds.join('\n'))
			return;
		const generation = ++this.#generation;
		if (!this.#source)
			this.#setStatus(this.#failures ? this.#troubleStatus() : 'connecting');
		let token;
		try {
			token = await this.#freshToken(this.sessionIds);
		}
		catch (err) {
			if (generation === this.#generation)
				this.#failed();
			return;
		}
		if (generation !== this.#generation || this.#closed || !this.#sessions.size)
			return;
		const ids = this.sessionIds;
		const url = this.#url(this.#opt.streamUrl);
		for (const id of ids)
			url.searchParams.append('session', id);
		if (token)
			url.searchParams.set('token', token.token);
		if (this.#lastEventId > 0)
			url.searchParams.set('last_event_id', String(this.#lastEventId));
		this.#closeSource();
		const source = new this.#opt.EventSource(url.href);
		this.#source = source;
		this.#openKey = ids.join('\n');
		source.onopen = () => { if (this.#source === source)
			this.#live(); };
		source.onmessage = (event) => { if (this.#source === source)
			this.#frame(event); };
		source.onerror = () => { if (this.#source === source)
			this.#sourceError(source); };
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
		if (this.#closed || !this.#sessions.size || (this.#source && this.#source.readyState !== CLOSED))
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
		const frameId = Number.parseInt(event.lastEventId, 10) || 0;
		const watch = this.#sessions.get(data.session_id);
		if (data.type === 'snapshot') {
			if (!watch)
				return;
			const snapshotId = Number(data.last_event_id ?? frameId) || 0;
			if (snapshotId && snapshotId <= watch.seenId)
				return;
			watch.seenId = Math.max(watch.seenId, snapshotId);
			if (TERMINAL.includes(data.status ?? ''))
				this.#finish(data.session_id, watch, { ...data, type: String(data.status) });
			else
				this.#call(watch.onProgress, data);
			return;
		}
		if (frameId > this.#lastEventId)
			this.#lastEventId = frameId;
		if (!watch || (frameId && frameId <= watch.seenId))
			return;
		if (frameId)
			watch.seenId = frameId;
		if (TERMINAL.includes(data.type))
			this.#finish(data.session_id, watch, data);
		else
			this.#call(watch.onProgress, data);
	}
	#finish(sessionId, watch, data) {
		if (this.#sessions.get(sessionId) === watch)
			this.#sessions.delete(sessionId);
		if (!this.#sessions.size)
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
