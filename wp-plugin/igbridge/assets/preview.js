/**
 * The Preview screen (issue 14): follows a preview job live, then shows its posts as a
 * grid of checkboxes (new ones checked, already imported and deleted ones unchecked) and
 * starts "import selected" through igbridge/v1 (capability and nonce checked by
 * WordPress). Thumbnails come from the sidecar with a stream token, never from a CDN.
 * Text is set with textContent only.
 */
import { ProgressTracker } from './progress/progress-tracker.js';
import { createProgressView } from './progress/progress-ui.js';
import { api, el, notice, t } from './rest.js';

const cfg = window.igbridgeConfig;
const labels = cfg.i18n.progress;
const sidecar = (cfg.publicUrl || '').replace(/\/$/, '');
const ITEMS_PAGE = 200;
const form = document.getElementById('igbridge-preview-form');
const grid = document.getElementById('igbridge-preview-grid');
const submit = document.getElementById('igbridge-preview-import');
const cost = document.getElementById('igbridge-preview-cost');
const view = createProgressView(document.getElementById('igbridge-preview-progress'), { title: t('kind_preview'), labels });
const money = (usd) => (usd == null ? t('pv_unknown') : Number(usd).toFixed(4));
const boxes = () => [...grid.querySelectorAll('input[type=checkbox]')];

function showCost(job) {
  const c = job.cost;
  if (!c) return;
  let text = t('pv_estimate').replace('%1$s', money(c.estimate_usd)).replace('%2$s', String(c.results))
    .replace('%3$s', money(c.price_per_result_usd)).replace('%4$s', money(c.max_total_charge_usd));
  if ('charged_usd' in c) text += ' ' + t('pv_charged').replace('%s', money(c.charged_usd));
  cost.textContent = text;
}

function count() {
  submit.textContent = t('pv_import').replace('%d', String(boxes().filter((b) => b.checked).length));
  submit.disabled = !boxes().some((b) => b.checked);
}

/** The stream token thumbnails are read with; minted again when one has expired (a lazy image scrolled to late). */
let token = null;
const freshToken = () => (token = api('stream-token', { method: 'POST' }).then((answer) => answer.token));

function thumbnail(path) {
  const img = Object.assign(el('img'), { alt: '', loading: 'lazy' });
  let retried = false;
  const load = async (minted) => {
    const src = new URL(sidecar + path);
    src.searchParams.set('token', await minted);
    img.src = src.href;
  };
  img.addEventListener('error', () => {
    if (!retried) load(freshToken()).catch(() => {});
    retried = true;
  });
  load(token).catch(() => {});
  return img;
}

/** One post: a labelled checkbox with its thumbnail, caption, date, kind and what WordPress has. */
function tile(item) {
  const li = el('li', `igbridge-tile igbridge-tile--${item.preview}`);
  const label = el('label');
  const box = el('input');
  box.type = 'checkbox';
  box.value = item.source_id;
  box.checked = item.preview === 'new';
  box.dataset.preview = item.preview;
  box.addEventListener('change', count);
  const picture = el('span', 'igbridge-tile__picture', item.thumbnail_url ? '' : t(`pv_${item.kind}`));
  if (item.thumbnail_url && sidecar) picture.append(thumbnail(item.thumbnail_url));
  const caption = el('span', 'igbridge-tile__caption', item.caption_excerpt || item.source_id);
  const meta = el('span', 'igbridge-item__meta',
    [item.taken_at ? new Date(item.taken_at).toLocaleDateString() : '', t(`pv_${item.kind}`), t(`pv_${item.preview}`)]
      .filter(Boolean).join(' · '));
  label.append(box, picture, caption, meta);
  li.append(label);
  return li;
}

async function showItems(job) {
  await freshToken();
  let cursor = null;
  do {
    const page = await api(`jobs/${encodeURIComponent(job.job_id)}/items`, { query: { limit: ITEMS_PAGE, cursor } });
    grid.append(...(page.items ?? []).filter((i) => i.preview).map(tile));
    cursor = page.next_cursor ?? null;
  } while (cursor);
  form.hidden = false;
  count();
}

async function ended(job) {
  view.update({ ...job.progress, status: job.status, message: job.error ?? job.progress?.message });
  showCost(job);
  if (job.status === 'complete') await showItems(job);
  else notice(`${t('pv_failed')} ${job.error ?? job.status}`, 'error');
}

document.getElementById('igbridge-preview-all-new').addEventListener('click', () => {
  boxes().forEach((b) => { b.checked = b.dataset.preview === 'new'; });
  count();
});
document.getElementById('igbridge-preview-none').addEventListener('click', () => {
  boxes().forEach((b) => { b.checked = false; });
  count();
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  submit.disabled = true;
  try {
    const select = boxes().filter((b) => b.checked).map((b) => b.value);
    await api('jobs', { method: 'POST', json: { kind: 'import', source: { type: 'preview', job_id: cfg.jobId, select }, options: {} } });
    notice(t('pv_importing'), 'success');
    window.location.assign(cfg.dashboardUrl);
  } catch (err) {
    notice(err.message, 'error');
    submit.disabled = false;
  }
});

async function main() {
  if (!cfg.jobId) return notice(t('pv_none'), 'info');
  const job = await api(`jobs/${encodeURIComponent(cfg.jobId)}`);
  if (job.kind !== 'preview') return notice(t('pv_not_preview'), 'error');
  showCost(job);
  if (!['queued', 'running'].includes(job.status) || !sidecar) return ended(job);
  view.update({ ...job.progress, status: job.status === 'queued' ? 'starting' : job.status });
  const tracker = new ProgressTracker({
    streamUrl: `${sidecar}/api/progress/stream`,
    getToken: () => api('stream-token', { method: 'POST' }),
  });
  const done = async (frame) => {
    view.update(frame);
    tracker.close();
    await ended(await api(`jobs/${encodeURIComponent(cfg.jobId)}`)).catch((err) => notice(err.message, 'error'));
  };
  tracker.startTracking(job.session_id, (frame) => {
    view.update(frame);
    if (frame.details?.cost) showCost({ cost: frame.details.cost }); // the estimate, before the run
  }, done, done);
}

main().catch((err) => notice(err.message, 'error'));
