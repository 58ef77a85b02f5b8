/**
 * igbridge dashboard: start jobs, send commands, list every job with live
 * progress over ONE ProgressTracker (one EventSource for the tab).
 * Config comes from window.igbridgeConfig (wp_add_inline_script); user text
 * (usernames, captions, reasons) is only ever set with textContent.
 */
import { ProgressTracker } from './progress/progress-tracker.js';
import { createProgressView, createNotifyToggles } from './progress/progress-ui.js';
import { api, el, notice, t } from './rest.js';

const cfg = window.igbridgeConfig;
const ACTIVE = new Set(['queued', 'running', 'starting']);
const POLL_MS = 15000;
/** @type {Map<string, {row: HTMLTableRowElement, job: any, view: any}>} */
const rows = new Map();
const body = document.getElementById('igbridge-jobs-body');
const connection = el('p', 'igbridge-connection');
body.closest('table').before(connection);
const alerts = createNotifyToggles(connection.parentElement.insertBefore(el('div', 'igbridge-alerts'), connection), { labels: cfg.i18n.progress });

const tracker = cfg.publicUrl
  ? new ProgressTracker({
    streamUrl: cfg.publicUrl.replace(/\/$/, '') + '/api/progress/stream',
    getToken: () => api('stream-token', { method: 'POST' }),
    onStatus: (status) => { connection.textContent = t(`stream_${status}`); connection.dataset.status = status; },
  })
  : null;

const jobsOf = (answer) => (Array.isArray(answer) ? answer : answer?.jobs ?? []);

function sourceText(source = {}) {
  if (source.type === 'apify') return `@${source.username} (${source.limit ?? '?'})`;
  if (source.type === 'export') return String(source.path ?? '').split(/[\\/]/).pop().replace(/^[A-Za-z0-9]{20}-/, '');
  return JSON.stringify(source);
}

function postLink(id) {
  const a = el('a', '', `#${id}`);
  a.href = `${cfg.adminUrl}post.php?post=${encodeURIComponent(id)}&action=edit`;
  return a;
}

function itemList(items) {
  const details = el('details', 'igbridge-items');
  details.append(el('summary', '', t('items')));
  const list = el('ul');
  for (const item of items) {
    const li = el('li', `igbridge-item igbridge-item--${item.state}`);
    li.append(el('code', '', String(item.source_id)), ' ', el('span', 'igbridge-state', t(`item_${item.state}`) || item.state));
    if (item.wp_post_id) li.append(' ', postLink(item.wp_post_id));
    if (item.reason) li.append(' ', el('span', 'igbridge-reason', String(item.reason)));
    list.append(li);
  }
  details.append(list);
  return details;
}

function outcome(job) {
  const cell = el('div');
  const c = job.counts ?? {};
  cell.append(el('span', 'igbridge-counts', t('counts')
    .replace('%1$d', c.imported ?? 0).replace('%2$d', c.skipped ?? 0).replace('%3$d', c.failed ?? 0)));
  if (job.error) cell.append(el('p', 'igbridge-error', String(job.error)));
  const items = job.items ?? [];
  if (items.length) cell.append(itemList(items));
  return cell;
}

function actionButton(label, path, job) {
  const button = el('button', 'button button-small', label);
  button.type = 'button';
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api(`jobs/${encodeURIComponent(job.job_id)}/${path}`, { method: 'POST' });
      await refreshJob(job.job_id);
    } catch (err) {
      notice(err.message, 'error');
      button.disabled = false;
    }
  });
  return button;
}

function render(job) {
  let entry = rows.get(job.job_id);
  if (!entry) {
    const row = document.createElement('tr');
    row.dataset.jobId = job.job_id;
    for (let i = 0; i < 5; i++) row.append(document.createElement('td'));
    entry = { row, job, view: null };
    rows.set(job.job_id, entry);
    body.querySelector('.igbridge-empty')?.remove();
    const newer = [...body.children].find((r) => (rows.get(r.dataset.jobId)?.job.created_at ?? 0) < (job.created_at ?? 0));
    body.insertBefore(row, newer ?? null);
  }
  entry.job = job;
  const [idCell, sourceCell, progressCell, outcomeCell, actionCell] = entry.row.children;
  idCell.replaceChildren(el('strong', '', t(`kind_${job.kind}`) || job.kind), el('br'),
    el('code', '', String(job.job_id).slice(0, 8)), el('br'),
    el('span', 'description', job.created_at ? new Date(job.created_at * 1000).toLocaleString() : ''));
  sourceCell.textContent = sourceText(job.source);
  if (!entry.view) {
    entry.view = createProgressView(progressCell, { title: sourceText(job.source), labels: cfg.i18n.progress });
  }
  if (!ACTIVE.has(job.status)) entry.view.update({ status: job.status, message: job.error ?? '' });
  entry.row.className = `igbridge-job igbridge-job--${job.status}`;
  outcomeCell.replaceChildren(outcome(job));
  actionCell.replaceChildren();
  if (ACTIVE.has(job.status)) actionCell.append(actionButton(t('cancel'), 'cancel', job));
  else if ((job.counts?.failed ?? 0) > 0) actionCell.append(actionButton(t('retry'), 'retry', job));
  if (ACTIVE.has(job.status)) track(job);
}

function track(job) {
  if (!tracker || tracker.sessionIds.includes(job.session_id)) return;
  const view = () => rows.get(job.job_id)?.view;
  const finished = async (data) => {
    view()?.update(data);
    const final = await refreshJob(job.job_id);
    const c = final?.counts ?? {};
    alerts.announce(t('job_done').replace('%s', sourceText(job.source)),
      t('counts').replace('%1$d', c.imported ?? 0).replace('%2$d', c.skipped ?? 0).replace('%3$d', c.failed ?? 0),
      data.type === 'complete');
  };
  tracker.startTracking(job.session_id, (data) => view()?.update(data), finished, finished);
}

async function refreshJob(id) {
  try {
    const job = await api(`jobs/${encodeURIComponent(id)}`);
    render(job);
    return job;
  } catch (err) {
    notice(err.message, 'error');
    return null;
  }
}

async function refreshJobs() {
  try {
    const jobs = jobsOf(await api('jobs'));
    jobs.forEach(render);
    if (!rows.size) body.querySelector('.igbridge-empty td').textContent = t('no_jobs');
  } catch (err) {
    body.querySelector('.igbridge-empty td')?.replaceChildren(t('jobs_failed'));
    notice(err.message, 'error');
  }
}

async function startJob(request) {
  const started = await api('jobs', { method: 'POST', json: request });
  await refreshJob(started.job_id);
  return started;
}

/** Runs a form's async handler with its submit button disabled; errors become notices. */
function onSubmit(id, handler) {
  const form = document.getElementById(id);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('[type=submit]');
    button.disabled = true;
    try {
      await handler(form);
    } catch (err) {
      notice(err.message, 'error');
    } finally {
      button.disabled = false;
    }
  });
}

onSubmit('igbridge-profile-form', async (form) => {
  const data = new FormData(form);
  await startJob({
    kind: data.get('kind'),
    source: { type: 'apify', username: String(data.get('username')).replace(/^@/, ''), limit: Number(data.get('limit')) || cfg.apifyLimit },
    options: {},
  });
  notice(t('started'), 'success');
});

onSubmit('igbridge-zip-form', async (form) => {
  const file = form.querySelector('input[type=file]').files[0];
  if (!file || !/\.zip$/i.test(file.name)) throw new Error(t('not_zip'));
  const upload = new FormData();
  upload.append('file', file);
  notice(t('uploading').replace('%s', file.name), 'info');
  const saved = await api('upload', { method: 'POST', body: upload });
  await startJob({ kind: 'import', source: { type: 'export', path: saved.path }, options: {} });
  form.reset();
  notice(t('started'), 'success');
});

const chat = document.getElementById('igbridge-chat-log');
onSubmit('igbridge-command-form', async (form) => {
  const input = form.querySelector('input[name=text]');
  const text = input.value.trim();
  if (!text) return;
  chat.append(el('li', 'igbridge-chat-me', text));
  try {
    const started = await api('commands', { method: 'POST', json: { text } });
    chat.append(el('li', 'igbridge-chat-reply', t('command_started').replace('%s', String(started.job_id ?? ''))));
    input.value = '';
    if (started.job_id) await refreshJob(started.job_id);
  } catch (err) {
    chat.append(el('li', 'igbridge-chat-reply igbridge-chat-error', err.message));
  }
  chat.lastElementChild?.scrollIntoView({ block: 'nearest' });
});

refreshJobs();
// Jobs started elsewhere (another tab, the CLI) show up without a reload.
setInterval(() => { if (!document.hidden) refreshJobs(); }, POLL_MS);
