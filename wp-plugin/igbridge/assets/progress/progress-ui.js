// generated from shared-js/src by sync.sh; edit there
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
	estimating: 'estimating…',
	notify: 'Desktop notification when done',
	sound: 'Sound when done',
};
export const VIEW_STATES = ['starting', 'running', 'complete', 'error', 'cancelled'];
const ICONS = { starting: '', running: '', complete: '✓', error: '✕', cancelled: '–' };
const g = (globalThis);
function el(tag, className, text = '') {
	const node = document.createElement(tag);
	node.className = className;
	node.textContent = text;
	return node;
}
export function addProgressMessage(container, text, type) {
	const line = el('div', '');
	updateProgressMessage(line, text, type);
	container.appendChild(line);
	return line;
}
export function updateProgressMessage(element, text, type = 'info') {
	element.className = `igb-msg igb-msg--${['success', 'warning', 'error'].includes(type) ? type : 'info'}`;
	element.textContent = String(text ?? '');
}
const isNumber = (n) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
export function formatRate(rate, unit = DEFAULT_LABELS.unit) {
	if (!isNumber(rate) || !rate)
		return '';
	return `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} ${unit.includes('/') ? unit : `${unit}/s`}`;
}
export function formatEta(seconds, labels = DEFAULT_LABELS) {
	if (!isNumber(seconds))
		return '';
	if (seconds < 10)
		return labels.fewSeconds;
	const [pattern, n] = seconds < 60 ? [labels.secondsLeft, Math.ceil(seconds / 10) * 10]
		: seconds < 3600 ? [labels.minutesLeft, Math.round(seconds / 60)]
			: [labels.hoursLeft, Math.round(seconds / 3600)];
	return pattern.replace('%d', String(n));
}
export function createProgressView(container, { title = '', labels: custom } = {}) {
	const labels = { ...DEFAULT_LABELS, ...custom };
	const element = el('div', '');
	const head = el('div', 'igb-progress__head');
	const icon = el('span', 'igb-progress__icon');
	icon.setAttribute('aria-hidden', 'true');
	head.append(el('span', 'igb-progress__title', title), icon);
	const bar = el('div', 'igb-progress__track');
	const attrs = { role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' };
	for (const [name, value] of Object.entries(attrs))
		bar.setAttribute(name, value);
	if (title)
		bar.setAttribute('aria-label', title);
	const fill = el('div', 'igb-progress__fill');
	bar.append(fill);
	const meta = el('div', 'igb-progress__meta');
	const [phase, count, rate, eta] = ['phase', 'count', 'rate', 'eta'].map((name) => el('span', `igb-progress__${name}`));
	meta.append(phase, count, rate, eta);
	const status = el('p', 'igb-progress__status');
	status.setAttribute('aria-live', 'polite');
	element.append(head, bar, meta, status);
	container.appendChild(element);
	let current = null;
	let shown = 0;
	let labelled = false;
	function setPercent(percent) {
		const clamped = (shown = Math.max(shown, Math.min(100, percent)));
		fill.style.width = `${clamped}%`;
		bar.setAttribute('aria-valuenow', String(Math.round(clamped)));
	}
	function setState(state) {
		if (!VIEW_STATES.includes(state))
			throw new TypeError(`progress view: unknown state ${JSON.stringify(state)}`);
		if (state === current)
			return;
		current = state;
		element.className = `igb-progress igb-progress--${state}`;
		element.dataset.state = state;
		icon.textContent = ICONS[state];
		if (state === 'complete')
			setPercent(100);
		if (labelled || !status.textContent) {
			status.textContent = labels[state];
			labelled = true;
		}
		if (state === 'running')
			return;
		bar.setAttribute('aria-valuetext', labels[state]);
		if (state !== 'starting')
			rate.textContent = eta.textContent = '';
	}
	function update(snapshot) {
		const { done, total } = snapshot;
		const counted = isNumber(done) && isNumber(total) && total > 0;
		const percent = isNumber(snapshot.percentage) ? snapshot.percentage : counted ? (100 * done) / total : null;
		if (percent !== null)
			setPercent(percent);
		phase.textContent = snapshot.phase ?? '';
		count.textContent = counted ? `${done} / ${total}` : '';
		rate.textContent = formatRate(snapshot.rate, snapshot.rate_unit || labels.unit);
		const running = (snapshot.status ?? snapshot.type) === 'running' || snapshot.type === 'progress';
		eta.textContent = snapshot.eta_seconds == null && running ? labels.estimating : formatEta(snapshot.eta_seconds, labels);
		bar.removeAttribute('aria-valuetext');
		if (counted)
			bar.setAttribute('aria-valuetext', `${bar.getAttribute('aria-valuenow')}% (${done} ${labels.of} ${total})`);
		const message = String(snapshot.message ?? '');
		if (message && message !== status.textContent) {
			status.textContent = message;
			labelled = false;
		}
		const state = (String(snapshot.status ?? snapshot.type));
		current = null;
		setState(VIEW_STATES.includes(state) ? state : 'running');
	}
	setState('starting');
	return { element, update, setState };
}
const PREFS = { notify: 'igbridge.progress.notify', sound: 'igbridge.progress.sound' };
const permission = () => g.Notification?.permission ?? 'denied';
function pref(name, on) {
	try {
		if (on === undefined)
			return g.localStorage?.getItem(PREFS[name]) === '1';
		g.localStorage?.setItem(PREFS[name], on ? '1' : '0');
	}
	catch {
	}
	return false;
}
export function createNotifyToggles(container, { labels: custom } = {}) {
	const labels = { ...DEFAULT_LABELS, ...custom };
	const element = el('div', 'igb-alerts');
	const [notify, sound] = (['notify', 'sound']).map((name) => {
		const box = el('input', '');
		box.type = 'checkbox';
		box.name = `igbridge-${name}`;
		box.checked = pref(name) && (name === 'sound' || permission() === 'granted');
		box.addEventListener('change', async () => {
			pref(name, box.checked);
			if (name === 'notify' && box.checked && permission() !== 'granted') {
				const answer = g.Notification ? await g.Notification.requestPermission() : 'denied';
				if (answer !== 'granted')
					pref(name, (box.checked = false));
			}
		});
		const label = el('label', 'igb-alerts__toggle');
		label.append(box, ` ${labels[name]}`);
		element.append(label);
		return box;
	});
	container.appendChild(element);
	return {
		element,
		announce(title, body, ok) {
			if (notify.checked && permission() === 'granted')
				new g.Notification(title, { body, tag: 'igbridge' });
			if (sound.checked)
				playCompletionSound(ok);
		},
	};
}
export function playCompletionSound(ok, AudioContextClass = g.AudioContext ?? g.webkitAudioContext) {
	if (!AudioContextClass)
		return false;
	const audio = new AudioContextClass();
	(ok ? [660, 880] : [440, 330]).forEach((frequency, i) => {
		const at = audio.currentTime + i * 0.15;
		const osc = audio.createOscillator();
		const gain = audio.createGain();
		osc.frequency.value = frequency;
		gain.gain.setValueAtTime(0.15, at);
		gain.gain.exponentialRampToValueAtTime(0.001, at + 0.14);
		osc.connect(gain).connect(audio.destination);
		osc.start(at);
		osc.stop(at + 0.15);
	});
	setTimeout(() => audio.close(), 500);
	return true;
}
