/**
 * The Sources screen (issue 14): saved Instagram accounts with their last sync, next
 * run and actions, and the form for one source's mapping and schedule. Everything
 * goes through igbridge/v1 (capability and nonce checked by WordPress); text is set
 * with textContent only.
 */
import { api, el, notice, t } from './rest.js';

const cfg = window.igbridgeConfig;
const body = document.getElementById('igbridge-sources-body');
const form = document.getElementById('igbridge-source-form');
const submit = document.getElementById('igbridge-source-submit');
const formTitle = document.getElementById('igbridge-source-form-title');
const addTitle = formTitle.textContent;

/** A time as the reader's locale shows it, or a word for "none". */
function when(iso, none) {
  return iso ? new Date(iso).toLocaleString() : none;
}

function lastSync(source) {
  const last = source.last_sync;
  if (!last) return t('src_never');
  return `${when(last.at, '')} · ${last.status}: ${last.message}`;
}

function nextRun(source) {
  if (source.paused) return t('src_paused');
  return when(source.next_run_at, t('src_not_scheduled'));
}

function button(label, onClick) {
  const node = el('button', 'button', label);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

function row(source) {
  const tr = el('tr');
  tr.dataset.sourceId = source.source_id;
  tr.append(
    el('td', 'igbridge-src-account', source.name || `@${source.username ?? source.path}`),
    el('td', 'igbridge-src-last', lastSync(source)),
    el('td', 'igbridge-src-next', nextRun(source)),
  );
  const actions = el('td', 'igbridge-src-actions');
  actions.append(
    button(t('src_sync'), () => syncNow(source)),
    button(t('src_preview'), () => previewPosts(source)),
    button(t('src_repair'), () => repairNow(source)),
    button(t('src_edit'), () => edit(source)),
    button(source.paused ? t('src_resume') : t('src_pause'), () => setPaused(source, !source.paused)),
    button(t('src_delete'), () => remove(source)),
  );
  tr.append(actions);
  return tr;
}

async function load() {
  try {
    const { sources } = await api('sources');
    body.replaceChildren(...(sources.length ? sources.map(row) : [emptyRow()]));
  } catch (err) {
    notice(err.message, 'error');
  }
}

function emptyRow() {
  const tr = el('tr', 'igbridge-empty');
  const td = el('td', '', t('src_none'));
  td.colSpan = 4;
  tr.append(td);
  return tr;
}

async function syncNow(source) {
  try {
    const reply = await api(`sources/${source.source_id}/sync`, { method: 'POST' });
    notice(reply.reply ? t('src_running') : t('src_syncing'), 'success');
    await load();
  } catch (err) {
    notice(err.message, 'error');
  }
}

/** A preview job of the source's posts, picked from on the Preview screen. */
async function previewPosts(source) {
  try {
    const reply = await api(`sources/${source.source_id}/preview`, { method: 'POST' });
    window.location.assign(`${cfg.previewUrl}&job=${encodeURIComponent(reply.job_id)}`);
  } catch (err) {
    notice(err.message, 'error');
  }
}

async function repairNow(source) {
  try {
    await api(`sources/${source.source_id}/repair`, { method: 'POST' });
    notice(t('src_repairing'), 'success');
  } catch (err) {
    notice(err.message, 'error');
  }
}

async function setPaused(source, paused) {
  try {
    await api(`sources/${source.source_id}`, { method: 'PATCH', json: { paused } });
    await load();
  } catch (err) {
    notice(err.message, 'error');
  }
}

async function remove(source) {
  if (!window.confirm(t('src_confirm'))) return;
  try {
    await api(`sources/${source.source_id}`, { method: 'DELETE' });
    notice(t('src_deleted'), 'success');
    await load();
  } catch (err) {
    notice(err.message, 'error');
  }
}

/** The form filled with a saved source, to change it. */
function edit(source) {
  const m = source.mapping;
  const f = form.elements;
  f.source_id.value = source.source_id;
  f.username.value = source.username ?? '';
  f.username.readOnly = true;
  f.limit.value = source.limit;
  f.post_type.value = m.post_type;
  f.status.value = m.status;
  for (const box of form.querySelectorAll('input[name="category_ids"]')) {
    box.checked = m.category_ids.includes(Number(box.value));
  }
  f.author_id.value = m.author_id ?? '';
  f.title_rule.value = m.title.rule;
  f.title_max_length.value = m.title.max_length;
  f.title_template.value = m.title.template;
  f.content_template.value = m.content_template ?? '';
  f.hashtags.value = m.hashtags;
  f.featured.value = m.featured;
  f.include_reels.checked = m.include_reels;
  f.every_minutes.value = source.schedule ? String(source.schedule.every_minutes) : '';
  submit.textContent = t('src_update');
  formTitle.textContent = source.name || `@${source.username}`;
  form.scrollIntoView();
  showPreview();
}

function reset() {
  form.elements.source_id.value = '';
  form.elements.username.readOnly = false;
  submit.textContent = t('src_add');
  formTitle.textContent = addTitle;
  schedulePreview(); // once the browser has cleared the fields
}

/** What the form says, as the sidecar's source body. */
function formBody() {
  const f = form.elements;
  const every = f.every_minutes.value;
  return {
    username: f.username.value.trim().replace(/^@/, ''),
    limit: Number(f.limit.value),
    mapping: {
      post_type: f.post_type.value || 'post',
      status: f.status.value,
      category_ids: [...form.querySelectorAll('input[name="category_ids"]:checked')].map((b) => Number(b.value)),
      author_id: f.author_id.value ? Number(f.author_id.value) : null,
      title: {
        rule: f.title_rule.value,
        max_length: Number(f.title_max_length.value),
        template: f.title_template.value,
      },
      content_template: f.content_template.value.trim() ? f.content_template.value : null,
      hashtags: f.hashtags.value,
      featured: f.featured.value,
      include_reels: f.include_reels.checked,
    },
    schedule: every ? { every_minutes: Number(every) } : null,
  };
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = form.elements.source_id.value;
  const data = formBody();
  try {
    if (id) {
      delete data.username;
      await api(`sources/${id}`, { method: 'PATCH', json: data });
    } else {
      await api('sources', { method: 'POST', json: { type: 'apify', ...data } });
    }
    notice(t('src_saved'), 'success');
    form.reset();
    reset();
    await load();
  } catch (err) {
    notice(err.message, 'error');
  }
});
form.addEventListener('reset', reset);

/*
 * The preview: one post with the form's mapping applied, rendered by the sidecar with
 * the import's own code (never a second renderer here). The content is shown in a
 * sandboxed frame: no script of it runs, and it cannot reach this page.
 */
const preview = {
  from: document.getElementById('igbridge-src-preview-from'),
  title: document.getElementById('igbridge-src-preview-title'),
  status: document.getElementById('igbridge-src-preview-status'),
  categories: document.getElementById('igbridge-src-preview-categories'),
  tags: document.getElementById('igbridge-src-preview-tags'),
  featured: document.getElementById('igbridge-src-preview-featured'),
  content: document.getElementById('igbridge-src-preview-content'),
};
let previewAsked = 0;
let previewTimer;

function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(showPreview, 300);
}

async function showPreview() {
  const asked = ++previewAsked;
  const id = form.elements.source_id.value;
  try {
    const json = { mapping: formBody().mapping, ...(id ? { source_id: id } : {}) };
    const shown = await api('sources/preview-mapping', { method: 'POST', json });
    if (asked === previewAsked) renderPreview(shown); // an older answer never wins
  } catch (err) {
    if (asked === previewAsked) preview.from.textContent = err.message;
  }
}

function renderPreview(shown) {
  const names = new Map(cfg.categories.map((c) => [c.id, c.name]));
  const none = t('src_preview_none');
  preview.from.textContent = shown.post.from === 'source' ? t('src_preview_from') : t('src_preview_sample');
  preview.title.textContent = shown.title;
  preview.status.textContent = shown.status;
  preview.categories.textContent = shown.category_ids.map((c) => names.get(c) ?? `#${c}`).join(', ') || none;
  preview.tags.textContent = shown.tags.join(', ') || none;
  const image = shown.featured_image;
  if (image && image.url) {
    const img = el('img', 'igbridge-src-preview-image');
    img.src = image.url;
    img.alt = image.alt;
    img.referrerPolicy = 'no-referrer';
    preview.featured.replaceChildren(img);
  } else {
    preview.featured.textContent = image ? image.alt : none;
  }
  preview.content.srcdoc = shown.content;
}

form.addEventListener('input', schedulePreview);
form.addEventListener('change', schedulePreview);

document.getElementById('igbridge-restore-deleted').addEventListener('click', async () => {
  if (!window.confirm(t('src_restore_ask'))) return;
  try {
    const reply = await api('deleted/restore', { method: 'POST', json: {} });
    notice(t('src_restored').replace('%d', String(reply.restored)), 'success');
  } catch (err) {
    notice(err.message, 'error');
  }
});

function fillChoices() {
  const boxes = document.getElementById('igbridge-src-categories');
  for (const category of cfg.categories) {
    const label = el('label', 'igbridge-src-category');
    const box = el('input');
    box.type = 'checkbox';
    box.name = 'category_ids';
    box.value = String(category.id);
    label.append(box, document.createTextNode(` ${category.name}`));
    boxes.append(label, el('br'));
  }
  const types = document.getElementById('igbridge-src-post-type');
  for (const type of cfg.postTypes) {
    const option = el('option', '', `${type.label} (${type.name})`);
    option.value = type.name;
    types.append(option);
  }
  const authors = document.getElementById('igbridge-src-author');
  for (const author of cfg.authors) {
    const option = el('option', '', author.name);
    option.value = String(author.id);
    authors.append(option);
  }
}

fillChoices();
load();
showPreview();
