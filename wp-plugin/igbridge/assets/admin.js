/**
 * igbridge dashboard: start jobs, send commands, list every job with live
 * progress over ONE ProgressTracker, so the tab holds one EventSource.
 * User text (usernames, ids, reasons) is only ever set with textContent.
 */
import { ProgressTracker } from './progress/progress-tracker.js';
import { createProgressView, createNotifyToggles } from './progress/progress-ui.js';
import { api, el, notice, t } from './rest.js';

const cfg = window.igbridgeConfig;
const labels = cfg.i18n.progress;
const ACTIVE = new Set(['queued', 'running']);
/** job_id → {row, view, key}; key is the JSON last rendered, to skip unchanged jobs. */
const rows = new Map();
const body = document.getElementById('igbridge-jobs-body');
const connection = el('p', 'igbridge-connection');
body.closest('table').before(connection);
const alerts = createNotifyToggles(connection.parentElement.insertBefore(el('div'), connection), { labels });

const tracker = !cfg.publicUrl ? null : new ProgressTracker({
  streamUrl: `${cfg.publicUrl.replace(/\/$/, '')}/api/progress/stream`,
  getToken: () => api('stream-token', { method: 'POST' }),
  onStatus: (status) => {
    connection.textContent = t(`stream_${status}`);
    connection.dataset.status = status;
  },
});

const jobsOf = (answer) => answer?.jobs ?? [];
const stamp = (iso) => Date.parse(iso ?? '') || 0;
const countsText = (c = {}) => t('counts')
  .replace('%1$d', c.imported ?? 0).replace('%2$d', c.skipped ?? 0).replace('%3$d', c.failed ?? 0);

function sourceText(source = {}) {
  if (source.type === 'apify') return `@${source.username} (${source.limit})`;
  if (source.names) return source.names.join(', '); // uploaded exports, as the person named them
  // Jobs of plugin 0.1.0's uploads: a random 20-character prefix before the name the user chose.
  if (source.type === 'export') return String(source.path).split('/').pop().replace(/^\w{20}-/, '');
  if (source.urls) return t('urls').replace('%d', source.urls.length);
  return String(source.type);
}

function itemList(items, open) {
  const details = el('details', 'igbridge-items');
  details.open = open;
  const list = el('ul');
  for (const item of items) {
    const li = el('li', `igbridge-item--${item.state}`);
    li.append(el('code', '', item.source_id), ' ', el('span', 'igbridge-state', t(`item_${item.state}`)));
    if (item.wp_post_id) {
      const link = el('a', '', `#${item.wp_post_id}`);
      link.href = `${cfg.adminUrl}post.php?action=edit&post=${Number(item.wp_post_id)}`;
      li.append(' ', link);
    }
    if (item.reason) li.append(' ', el('span', 'igbridge-reason', item.reason));
    list.append(li);
  }
  details.append(el('summary', '', t('items')), list);
  return details;
}

function actionButton(label, action, job) {
  const button = el('button', 'button button-small', label);
  button.type = 'button';
  button.onclick = async () => {
    button.disabled = true;
    try {
      // A retry answers with the job that re-runs the failed items, under a new id.
      await show(await api(`jobs/${encodeURIComponent(job.job_id)}/${action}`, { method: 'POST' }));
      await refreshJob(job.job_id);
    } catch (err) {
      notice(err.message, 'error');
      button.disabled = false;
    }
  };
  return button;
}

function render(job) {
  let entry = rows.get(job.job_id);
  const key = JSON.stringify(job);
  if (entry?.key === key) return;
  if (!entry) {
    const row = el('tr');
    for (let i = 0; i < 5; i++) row.append(el('td'));
    entry = { row, view: createProgressView(row.children[2], { title: sourceText(job.source), labels }) };
    rows.set(job.job_id, entry);
    row.dataset.created = String(stamp(job.created_at));
    body.querySelector('.igbridge-empty')?.remove();
    const older = [...body.children].find((r) => Number(r.dataset.created) < stamp(job.created_at));
    body.insertBefore(row, older ?? null);
  }
  entry.key = key;
  const active = ACTIVE.has(job.status);
  const [idCell, sourceCell, , outcomeCell, actionCell] = entry.row.children;
  entry.row.className = `igbridge-job--${job.status}`;
  idCell.replaceChildren(el('strong', '', t(`kind_${job.kind}`)), el('br'), el('code', '', job.job_id.slice(0, 8)),
    el('br'), el('span', 'description', stamp(job.created_at) ? new Date(stamp(job.created_at)).toLocaleString() : ''));
  sourceCell.textContent = sourceText(job.source);
  // While tracked, the stream is fresher than a polled snapshot.
  if (!active) entry.view.update({ ...job.progress, status: job.status, message: job.error ?? job.progress?.message });
  else if (!tracker?.sessionIds.includes(job.session_id) && job.progress) entry.view.update(job.progress);
  const open = outcomeCell.querySelector('details')?.open ?? false;
  outcomeCell.replaceChildren(el('span', '', countsText(job.counts)));
  if (job.items?.length) outcomeCell.append(itemList(job.items, open));
  actionCell.replaceChildren();
  if (active) actionCell.append(actionButton(t('cancel'), 'cancel', job));
  else if (job.counts?.failed > 0) actionCell.append(actionButton(t('retry'), 'retry', job));
  if (active) track(job);
}

function track(job) {
  if (!tracker || tracker.sessionIds.includes(job.session_id)) return;
  const update = (data) => rows.get(job.job_id)?.view.update(data);
  const finished = async (data) => {
    update(data);
    const final = await refreshJob(job.job_id);
    alerts.announce(t('job_done').replace('%s', sourceText(job.source)), countsText(final?.counts), data.type === 'complete');
  };
  tracker.startTracking(job.session_id, update, finished, finished);
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
  const empty = body.querySelector('.igbridge-empty td');
  try {
    jobsOf(await api('jobs')).forEach(render);
    if (empty && !rows.size) empty.textContent = t('no_jobs');
  } catch (err) {
    if (empty) empty.textContent = t('jobs_failed');
    notice(err.message, 'error');
  }
}

/** Renders what a start, retry or command call answered: its job, or the jobs it listed. */
async function show(answer) {
  if (answer?.job) render(answer.job);
  jobsOf(answer).forEach(render);
}

/** Runs a form's handler with its submit button disabled; errors become notices. */
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

async function startJob(request) {
  await show(await api('jobs', { method: 'POST', json: { ...request, options: {} } }));
  notice(t('started'), 'success');
}

onSubmit('igbridge-profile-form', (form) => {
  const data = new FormData(form);
  const username = String(data.get('username')).replace(/^@/, '');
  return startJob({ kind: data.get('kind'), source: { type: 'apify', username, limit: Number(data.get('limit')) || cfg.apifyLimit } });
});

// Exports go up in chunks to the sidecar (upload.js, loaded when needed), then one job imports every part.
onSubmit('igbridge-zip-form', async (form) => {
  const files = [...form.elements.file.files];
  if (!files.length || files.some((f) => !/\.zip$/i.test(f.name))) throw new Error(t('not_zip'));
  const { uploadWithBar } = await import('./upload.js');
  const ids = await uploadWithBar(files, document.getElementById('igbridge-upload-progress'), { chunkBytes: cfg.uploadChunkBytes, labels });
  await startJob({ kind: 'import', source: { type: 'export', upload_ids: ids } });
  form.reset();
});

// The sidecar's own limits (file size, free disk), stated before anyone picks a file.
api('uploads').then(({ limits }) => {
  document.getElementById('igbridge-upload-limits').textContent += ' ' + t('upload_limits')
    .replace('%1$s', (limits.max_file_bytes / 1e9).toFixed(1)).replace('%2$s', (limits.free_bytes / 1e9).toFixed(1)).replace('%3$d', limits.retention_days);
}).catch(() => {}); // an unreachable sidecar is reported by the job list and the connection line

const chat = document.getElementById('igbridge-chat-log');
onSubmit('igbridge-command-form', async (form) => {
  const text = form.elements.text.value.trim();
  chat.append(el('li', 'igbridge-chat-me', text));
  try {
    const answer = await api('commands', { method: 'POST', json: { text } });
    chat.append(el('li', '', answer.reply ?? t('command_started').replace('%s', answer.job_id)));
    form.reset();
    await show(answer);
  } catch (err) {
    chat.append(el('li', 'igbridge-chat-error', err.message)); // the sidecar's hint is in the message
  }
  chat.lastElementChild.scrollIntoView({ block: 'nearest' });
});

refreshJobs();
// Jobs started elsewhere (another tab, the CLI) appear without a reload.
setInterval(() => document.hidden || refreshJobs(), 15000);
