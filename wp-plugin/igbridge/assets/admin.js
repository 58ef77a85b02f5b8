/**
 * igbridge dashboard: start jobs, send commands, list jobs with live progress.
 * No polling: the page learns of every job, wherever it was started, from the
 * `job` frames of its ONE all-sessions EventSource, and keeps the bars and the
 * Outcome column live from it. The list is paged (newest first); a job's items
 * load only when someone opens them. User text is only ever set with textContent.
 */
import { ProgressTracker } from './progress/progress-tracker.js';
import { createProgressView, createNotifyToggles } from './progress/progress-ui.js';
import { api, el, notice, t } from './rest.js';

const cfg = window.igbridgeConfig;
const labels = cfg.i18n.progress;
const ACTIVE = new Set(['queued', 'running']);
const TERMINAL = new Set(['complete', 'error', 'cancelled']);
const JOBS_PAGE = 20;
const ITEMS_PAGE = 50;
/** job_id → {row, view, job, live, items}; live: the stream has sent this job's own progress. */
const rows = new Map();
/** session_id → job_id, to route the stream's progress frames. */
const sessions = new Map();
/** session_id → the last progress frame that came before its job did. */
const early = new Map();
const body = document.getElementById('igbridge-jobs-body');
const table = body.closest('table');
const columns = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
const connection = el('p', 'igbridge-connection');
table.before(connection);
const alerts = createNotifyToggles(connection.parentElement.insertBefore(el('div'), connection), { labels });
const older = el('button', 'button igbridge-older', t('older_jobs'));
older.type = 'button';
older.hidden = true;
table.after(older);
let jobsCursor = null;
let startedJob = null; // the job the last "Job started" notice is about
let loggedOut = false;

const stamp = (iso) => Date.parse(iso ?? '') || 0;
const when = (iso) => (stamp(iso) ? new Date(stamp(iso)).toLocaleString() : '');
const link = (text, href, className = '') => Object.assign(el('a', className, text), { href });

/** Errors as one notice; a WordPress session that expired is said once, with a login link. */
function report(err) {
  if (!err.loggedOut) return notice(err.message, 'error');
  if (loggedOut) return;
  loggedOut = true;
  tracker?.close(); // its token requests would all be refused now
  connection.dataset.status = 'offline';
  connection.textContent = t('stream_logged_out');
  notice(t('logged_out'), 'error', link(t('log_in_again'), cfg.loginUrl));
}

const tracker = !cfg.publicUrl ? null : new ProgressTracker({
  streamUrl: `${cfg.publicUrl.replace(/\/$/, '')}/api/progress/stream`,
  getToken: () => api('stream-token', { method: 'POST' }).catch((err) => {
    if (err.loggedOut) report(err);
    throw err;
  }),
  onStatus: (status) => {
    if (loggedOut) return;
    connection.dataset.status = status;
    if (status !== 'offline') return void (connection.textContent = t(`stream_${status}`));
    // Offline: most often the browser cannot reach the sidecar's public URL (or CORS).
    connection.replaceChildren(t('stream_unreachable').replace('%s', cfg.publicUrl), ' ',
      link(t('test_connection'), cfg.settingsUrl));
  },
});

const IMPORT_COUNTS = ['imported', 'already_imported', 'skipped', 'failed', 'pending'];
// A finished preview imports nothing: what it left to do are the new posts it found.
const PREVIEW_COUNTS = ['found', 'new', 'already_imported', 'skipped', 'failed'];

/** "3 imported · 2 already in WordPress · 1 failed": words that match the job's counts, the first always. */
function countsText({ kind, status, counts = {} }) {
  const preview = kind === 'preview' && status === 'complete';
  const shown = preview ? { ...counts, found: counts.total, new: counts.pending } : counts;
  return (preview ? PREVIEW_COUNTS : IMPORT_COUNTS).filter((state, n) => n === 0 || shown[state] > 0)
    .map((state) => t(`count_${state}`).replace('%d', shown[state] ?? 0)).join(' · ');
}

function sourceText(source = {}) {
  if (source.type === 'apify') return `@${source.username} (${source.limit})`;
  if (source.names) return source.names.join(', '); // uploaded exports, as the person named them
  if (source.type === 'export') {
    const files = source.paths ?? (source.path ? [source.path] : []);
    // Jobs of plugin 0.1.0's uploads: a random 20-character prefix before the name the user chose.
    return files.map((file) => String(file).split('/').pop().replace(/^\w{20}-/, '')).join(', ');
  }
  if (source.urls) return t('urls').replace('%d', source.urls.length);
  return String(source.type);
}

/** Thumbnails only from this site or the sidecar: a CDN link would tell a third party who looks. */
const ownOrigins = [cfg.homeUrl, cfg.publicUrl].filter(Boolean).map((url) => new URL(url, location.href).origin);
function ownImage(url) {
  try {
    return !!url && ownOrigins.includes(new URL(url, location.href).origin);
  } catch {
    return false;
  }
}

/** One item as a person knows the post: thumbnail, the caption's first words, the date, links. */
function itemRow(item) {
  const li = el('li', `igbridge-item igbridge-item--${item.state}`);
  if (ownImage(item.thumbnail_url)) {
    li.append(Object.assign(el('img', 'igbridge-thumb'), { src: item.thumbnail_url, alt: '', loading: 'lazy' }));
  }
  const text = el('div', 'igbridge-item__text');
  const caption = item.caption_excerpt || item.source_id;
  text.append(item.post_url ? link(caption, item.post_url, 'igbridge-item__caption') : el('span', 'igbridge-item__caption', caption));
  const meta = el('div', 'igbridge-item__meta');
  meta.append(el('span', 'igbridge-state', t(`item_${item.state}`)));
  if (item.taken_at) meta.append(' · ', el('time', '', when(item.taken_at)));
  if (item.wp_post_id) {
    meta.append(' · ', link(`#${item.wp_post_id}`, `${cfg.adminUrl}post.php?action=edit&post=${Number(item.wp_post_id)}`, 'igbridge-edit'));
  }
  if (item.reason) meta.append(' · ', el('span', 'igbridge-reason', item.reason));
  text.append(meta);
  li.append(text);
  return li;
}

/** The job's items, asked for only when the person opens them, a page at a time. */
function itemList(job) {
  const details = el('details', 'igbridge-items');
  const list = el('ul');
  const more = el('button', 'button button-small', t('more_items'));
  more.type = 'button';
  more.hidden = true;
  let cursor = null;
  const load = async () => {
    more.disabled = true;
    try {
      const page = await api(`jobs/${encodeURIComponent(job.job_id)}/items`, { query: { limit: ITEMS_PAGE, cursor } });
      list.append(...(page.items ?? []).map(itemRow));
      if (!list.children.length) list.append(el('li', 'igbridge-reason', t('no_items')));
      cursor = page.next_cursor ?? null;
      more.hidden = !cursor;
    } catch (err) {
      report(err);
    } finally {
      more.disabled = false;
    }
  };
  details.addEventListener('toggle', () => { if (details.open && !list.children.length) void load(); });
  more.onclick = load;
  details.append(el('summary', '', t('items')), list, more);
  // Items change while a job runs: a closed list is asked for again when next opened.
  const stale = () => {
    if (details.open) return;
    list.replaceChildren();
    cursor = null;
    more.hidden = true;
  };
  return { details, stale };
}

function actionButton(label, action, job) {
  const button = el('button', 'button button-small', label);
  button.type = 'button';
  button.onclick = async () => {
    button.disabled = true;
    try {
      // A retry answers with the job that re-runs the failed items, under a new id.
      const answer = await api(`jobs/${encodeURIComponent(job.job_id)}/${action}`, { method: 'POST' });
      render(answer.job ?? answer);
    } catch (err) {
      report(err);
      button.disabled = false;
    }
  };
  return button;
}

/** The view's state for a job status (a queued job has not started yet). */
const viewStatus = (status) => (status === 'queued' ? 'starting' : status);
/** How far along a status is: an answer that was on its way while a frame said more is older. */
const stage = (status) => (status === 'queued' ? 0 : status === 'running' ? 1 : 2);

/** Inserts or refreshes a job's row from a job object (list page, job frame, or an answer). */
function render(job) {
  if (!job?.job_id) return;
  let entry = rows.get(job.job_id);
  const was = entry?.job.status;
  if (entry && stage(job.status) < stage(was)) return;
  if (!entry) {
    const row = el('tr');
    for (const name of columns) {
      const cell = el('td');
      cell.dataset.label = name; // the heading, shown beside the cell where the table reflows
      row.append(cell);
    }
    entry = { row, view: createProgressView(row.children[2], { title: sourceText(job.source), labels }), job, live: false, items: itemList(job) };
    rows.set(job.job_id, entry);
    sessions.set(job.session_id, job.job_id);
    row.dataset.created = String(stamp(job.created_at));
    body.querySelector('.igbridge-empty')?.remove();
    const next = [...body.children].find((r) => Number(r.dataset.created) < stamp(job.created_at));
    body.insertBefore(row, next ?? null);
    row.children[3].append(el('span', 'igbridge-counts'), entry.items.details);
    const [idCell, sourceCell] = row.children;
    idCell.append(el('strong', '', t(`kind_${job.kind}`)), el('br'), el('code', '', job.job_id.slice(0, 8)),
      el('br'), el('span', 'description', when(job.created_at)));
    sourceCell.textContent = sourceText(job.source);
  }
  entry.job = { ...entry.job, ...job };
  job = entry.job;
  const active = ACTIVE.has(job.status);
  const [, , , outcomeCell, actionCell] = entry.row.children;
  entry.row.className = `igbridge-job--${job.status}`;
  // While the stream sends the job's own progress (rate, ETA), that is fresher than this summary.
  if (!active) entry.view.update({ ...job.progress, status: job.status, message: job.error ?? job.progress?.message });
  else if (!entry.live) entry.view.update({ ...job.progress, status: viewStatus(job.status) });
  const outcome = countsText(job);
  const counts = outcomeCell.querySelector('.igbridge-counts');
  if (counts.textContent !== outcome) entry.items.stale();
  counts.textContent = outcome;
  actionCell.replaceChildren();
  if (active) actionCell.append(actionButton(t('cancel'), 'cancel', job));
  else if (job.counts?.failed > 0) actionCell.append(actionButton(t('retry'), 'retry', job));
  if (job.kind === 'preview') actionCell.append(link(t('pick_posts'), cfg.previewUrl + job.job_id, 'button button-small'));
  const frame = early.get(job.session_id);
  if (frame) {
    early.delete(job.session_id);
    progress(frame);
  }
  if (ACTIVE.has(was) && !active) finished(job);
}

function finished(job) {
  alerts.announce(t('job_done').replace('%s', sourceText(job.source)), countsText(job), job.status === 'complete');
  if (startedJob === job.job_id && job.status === 'error') {
    notice(job.error || t('job_failed'), 'error'); // a job that failed at once: its error, not "started"
  }
}

/** A progress, snapshot or terminal frame of one job's session. */
function progress(frame) {
  const entry = rows.get(sessions.get(frame.session_id));
  if (!entry) {
    if (TERMINAL.has(frame.type)) early.delete(frame.session_id);
    else early.set(frame.session_id, frame);
    return;
  }
  entry.live = true;
  entry.view.update(frame);
}

function onFrame(frame) {
  if (frame.type === 'job') render(frame.job);
  else progress(frame);
}

async function loadJobs() {
  const empty = body.querySelector('.igbridge-empty td');
  older.disabled = true;
  try {
    const page = await api('jobs', { query: { limit: JOBS_PAGE, cursor: jobsCursor } });
    (page.jobs ?? []).forEach(render);
    jobsCursor = page.next_cursor ?? null;
    older.hidden = !jobsCursor;
    if (empty && !rows.size) empty.textContent = t('no_jobs');
  } catch (err) {
    if (empty) empty.textContent = t('jobs_failed');
    report(err);
  } finally {
    older.disabled = false;
  }
}
older.onclick = loadJobs;

/** Runs a form's handler with its submit button disabled; errors become the notice. */
function onSubmit(id, handler) {
  const form = document.getElementById(id);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('[type=submit]');
    button.disabled = true;
    try {
      await handler(form);
    } catch (err) {
      report(err);
    } finally {
      button.disabled = false;
    }
  });
}

/** Shows what the sidecar accepted: "Job started" only then, or the error of a job that failed at once. */
function accepted(answer) {
  const job = answer?.job ?? answer;
  render(job);
  startedJob = job?.job_id ?? null;
  // The stream may have told of the job's end before this answer came back.
  const known = rows.get(job?.job_id)?.job ?? job;
  if (known?.status === 'error') notice(known.error || t('job_failed'), 'error');
  else notice(t('started'), 'success');
}

async function startJob(request) {
  const reply = await api('jobs', { method: 'POST', json: { ...request, options: {} } });
  if (request.kind === 'preview') location.href = cfg.previewUrl + reply.job_id;
  else accepted(reply);
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
    if (answer.job) render(answer.job);
    (answer.jobs ?? []).forEach(render);
  } catch (err) {
    if (err.loggedOut) report(err);
    chat.append(el('li', 'igbridge-chat-error', err.message)); // the sidecar's hint is in the message
  }
  chat.lastElementChild.scrollIntoView({ block: 'nearest' });
});

// The stream first, so nothing that happens while the first page loads is missed.
tracker?.watchAll(onFrame);
loadJobs();
