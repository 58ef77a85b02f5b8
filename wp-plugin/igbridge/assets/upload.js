/**
 * Chunked, resumable uploads of export ZIPs through igbridge/v1/uploads, loaded
 * only when someone uploads. The sidecar keeps each upload and its offset: after a
 * dropped connection the chunk is retried; after a reload (or in another browser)
 * choosing the same file again finds the upload by name, size and last-modified
 * time and sends only what is missing.
 */
import { createProgressView } from './progress/progress-ui.js';
import { api, t } from './rest.js';

const RETRIES = 6; // a dropped connection is retried with backoff (1 s doubling) before pausing
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const ESTIMATE_AFTER_MS = 3000; // ETA and rate are noise before this
const SMOOTHING = 0.3; // weight of the newest chunk in the rate

/** "1.4 GB", "312 MB", "820 KB". @param {number} bytes */
export function formatBytes(bytes) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let unit = 0;
  while (n >= 1000 && unit < units.length - 1) { n /= 1000; unit++; }
  return `${unit && n < 10 ? n.toFixed(1) : Math.round(n)} ${units[unit]}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** SHA-256 of a chunk as tus' Upload-Checksum wants it; null where the browser has no WebCrypto (plain http). */
async function checksum(bytes) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return `sha256 ${btoa(String.fromCharCode(...digest))}`;
}

/** Sends one chunk; answers the upload as the sidecar now has it. */
async function sendChunk(upload, file, chunkBytes) {
  const bytes = await file.slice(upload.offset, Math.min(upload.offset + chunkBytes, file.size)).arrayBuffer();
  const headers = { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(upload.offset) };
  const sum = await checksum(bytes);
  if (sum) headers['Upload-Checksum'] = sum;
  return api(`uploads/${encodeURIComponent(upload.upload_id)}`, { method: 'POST', body: bytes, headers });
}

/**
 * Uploads the files one after the other and resolves with their upload ids.
 * onProgress gets {sent, total, rate (bytes/s or null), eta (s or null), file, index}.
 */
export async function uploadFiles(files, { chunkBytes, onProgress }) {
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const ids = [];
  let before = 0; // bytes of the files already done
  let rate = null;
  let started = null;
  for (const [index, file] of files.entries()) {
    let upload = await api('uploads', { method: 'POST', json: { name: file.name, size: file.size, last_modified: file.lastModified } });
    const report = () => {
      const sent = before + upload.offset;
      const eta = rate && performance.now() - started >= ESTIMATE_AFTER_MS ? (total - sent) / rate : null;
      onProgress({ sent, total, rate: eta === null ? null : rate, eta, file, index });
    };
    report();
    let failures = 0;
    while (upload.offset < file.size) {
      const at = performance.now();
      const from = upload.offset;
      try {
        upload = await sendChunk(upload, file, Math.min(chunkBytes, upload.max_chunk_bytes ?? chunkBytes));
        failures = 0;
      } catch (err) {
        if (err.status === 409) { // the sidecar has another offset (another tab, a lost answer): continue from there
          if (err.code === 'upload_busy') await sleep(1000); // another tab is sending this file now
          upload = await api(`uploads/${encodeURIComponent(upload.upload_id)}`);
          continue;
        }
        if ((err.status === undefined || RETRY_STATUSES.has(err.status)) && ++failures <= RETRIES) {
          onProgress({ sent: before + upload.offset, total, rate: null, eta: null, file, index, retrying: err.message });
          await sleep(1000 * 2 ** (failures - 1));
          continue;
        }
        throw new Error(t('upload_stopped').replace('%1$s', file.name).replace('%2$s', formatBytes(upload.offset))
          .replace('%3$s', formatBytes(file.size)).replace('%4$s', err.message));
      }
      const seconds = (performance.now() - at) / 1000;
      if (started === null) started = at;
      if (seconds > 0) {
        const now = (upload.offset - from) / seconds;
        rate = rate === null ? now : SMOOTHING * now + (1 - SMOOTHING) * rate;
      }
      report();
    }
    before += file.size;
    ids.push(upload.upload_id);
  }
  return ids;
}

/** uploadFiles() with a live bar (bytes, rate, ETA) in `box`; resolves with the upload ids. */
export async function uploadWithBar(files, box, { chunkBytes, labels }) {
  box.hidden = false;
  box.replaceChildren();
  const title = t('uploading').replace('%s', files.map((f) => f.name).join(', '));
  const view = createProgressView(box, { title, labels: { ...labels, unit: 'MB' } });
  const onProgress = ({ sent, total, rate, eta, file, index, retrying }) => view.update({
    status: 'running',
    percentage: (100 * sent) / total,
    rate: rate && rate / 1e6,
    rate_unit: 'MB/s',
    eta_seconds: eta,
    phase: files.length > 1 ? t('upload_part').replace('%1$d', index + 1).replace('%2$d', files.length).replace('%3$s', file.name) : file.name,
    message: [t('upload_bytes').replace('%1$s', formatBytes(sent)).replace('%2$s', formatBytes(total)),
      retrying ?? (eta === null ? t('estimating') : '')].filter(Boolean).join(' · '),
  });
  try {
    const ids = await uploadFiles(files, { chunkBytes, onProgress });
    view.update({ status: 'complete', percentage: 100, message: t('uploaded') });
    return ids;
  } catch (err) {
    view.update({ status: 'error', message: err.message });
    throw err;
  }
}
