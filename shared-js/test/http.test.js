// The tracker against a real HTTP server on 127.0.0.1 that writes frames the way
// DESIGN.md's sidecar does: retry, one snapshot per session, replay after
// last_event_id, heartbeats, live events; tokens checked on every connect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProgressTracker } from '../src/progress-tracker.js';
import { NodeEventSource } from './support/node-event-source.js';

/** @typedef {{id: number, session_id: string, type: string, status: string, step: number}} LoggedEvent */

function fakeSidecar() {
  /** @type {LoggedEvent[]} */
  const log = [];
  /** @type {Array<{sessions: string[] | null, response: http.ServerResponse}>} */
  let clients = [];
  /** @type {string[]} */
  const requests = [];
  const validTokens = new Set();
  /** @param {http.ServerResponse} response @param {LoggedEvent | Record<string, any>} data @param {number | null} id */
  const write = (response, data, id) => response.write(`${id === null ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);

  const server = http.createServer((request, response) => {
    const url = new URL(String(request.url), 'http://127.0.0.1');
    requests.push(url.search);
    const token = url.searchParams.get('token');
    if (url.pathname === '/api/progress/status/a') {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'not_found', message: 'no session a' } }));
      return;
    }
    if (url.pathname !== '/api/progress/stream' || !validTokens.has(token)) {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad token' } }));
      return;
    }
    // No session parameter: every session, those created later too (the dashboard's stream).
    const named = url.searchParams.getAll('session');
    const sessions = named.length ? named : null;
    const wanted = (/** @type {string} */ id) => sessions === null || sessions.includes(id);
    const resume = request.headers['last-event-id'] ?? url.searchParams.get('last_event_id');
    const after = Number(resume ?? 0);
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    response.write('retry: 2000\n\n');
    const shown = sessions ?? [...new Set(log.map((e) => e.session_id))];
    shown.forEach((session, index) => {
      const last = log.filter((e) => e.session_id === session).at(-1);
      // As the sidecar: the last snapshot of a fresh stream carries the mark; a resumed one none.
      const mark = resume === undefined && index === shown.length - 1 ? log.length : null;
      write(response, { type: 'snapshot', session_id: session, status: last?.status ?? 'starting', step: last?.step ?? 0, last_event_id: last?.id ?? null }, mark);
    });
    for (const event of log) if (event.id > after && wanted(event.session_id)) write(response, event, event.id);
    response.write(': hb\n\n');
    clients.push({ sessions, response });
    response.on('close', () => { clients = clients.filter((c) => c.response !== response); });
  });

  return {
    server,
    requests,
    validTokens,
    get clientCount() { return clients.length; },
    /** @param {string} session @param {string} type @param {number} step */
    publish(session, type, step) {
      const status = type === 'progress' ? 'running' : type;
      const event = { id: log.length + 1, session_id: session, type, status, step };
      log.push(event);
      for (const client of clients) if (!client.sessions || client.sessions.includes(session)) write(client.response, event, event.id);
    },
    /** A job lifecycle frame on the all-sessions stream. @param {string} session @param {string} status */
    publishJob(session, status) {
      const event = { id: log.length + 1, session_id: session, type: 'job', status, step: 0, job: { job_id: session, session_id: session, status } };
      log.push(event);
      for (const client of clients) if (!client.sessions) write(client.response, { type: 'job', job: event.job }, event.id);
    },
    dropClients() {
      for (const client of clients) client.response.destroy();
      clients = [];
    },
  };
}

/** Wait (real time, bounded) until `check` holds. @param {() => boolean} check @param {string} what */
async function until(check, what) {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('over real HTTP: one stream, resume after a dropped connection, fresh token after revocation', async (t) => {
  const sidecar = fakeSidecar();
  await new Promise((resolve) => sidecar.server.listen(0, '127.0.0.1', () => resolve(null)));
  t.after(() => new Promise((resolve) => { sidecar.dropClients(); sidecar.server.close(resolve); }));
  const { port } = /** @type {import('node:net').AddressInfo} */ (sidecar.server.address());
  let minted = 0;
  let skewMs = 0;
  /** @type {string[]} */
  const statuses = [];
  /** @type {string[]} */
  const seen = [];
  const tracker = new ProgressTracker({
    streamUrl: `http://127.0.0.1:${port}/api/progress/stream`,
    EventSource: NodeEventSource,
    backoffBaseMs: 10,
    backoffMaxMs: 50,
    now: () => Date.now() + skewMs,
    onlineEvents: undefined,
    navigator: undefined,
    getToken: async () => {
      const token = `tok${++minted}`;
      sidecar.validTokens.add(token);
      return { token, expires_at: Math.floor(Date.now() / 1000) + 120 };
    },
    onStatus: (status) => statuses.push(status),
  });
  t.after(() => tracker.close());
  const record = (/** @type {any} */ d) => seen.push(`${d.session_id}:${d.type}:${d.step}`);
  tracker.startTracking('a', record, record, record);
  tracker.startTracking('b', record, record, record);

  await until(() => sidecar.clientCount === 1 && seen.length === 2, 'the first stream and its snapshots');
  sidecar.publish('a', 'progress', 1);
  sidecar.publish('b', 'progress', 1);
  await until(() => seen.length === 4, 'live events');

  sidecar.dropClients();
  sidecar.publish('a', 'progress', 2); // written while nobody listens
  sidecar.publish('b', 'complete', 2);
  await until(() => seen.length === 6, 'the events missed while disconnected');
  assert.equal(sidecar.requests[1], '?session=a&session=b&token=tok1&last_event_id=2');

  // The token is revoked and, by the page's clock, about to expire: the next connect needs a fresh one.
  sidecar.validTokens.delete('tok1');
  skewMs = 100_000;
  tracker.startTracking('c', record, record, record);
  await until(() => sidecar.clientCount === 1 && seen.length === 7, 'the stream reopened with c');
  sidecar.publish('a', 'complete', 3);
  sidecar.publish('c', 'error', 0);
  await until(() => seen.length === 9, 'the terminal events');
  await until(() => sidecar.clientCount === 0, 'the stream closed once no session is left');

  assert.deepEqual(seen, [
    'a:snapshot:0', 'b:snapshot:0', 'a:progress:1', 'b:progress:1',
    'a:progress:2', 'b:complete:2', // the replay: followed sessions miss nothing
    'c:snapshot:0', 'a:complete:3', 'c:error:0',
  ]);
  assert.equal(NodeEventSource.instances.length >= 3, true);
  assert.match(sidecar.requests.at(-1) ?? '', /^\?session=a&session=c&token=tok2&last_event_id=4$/);
  assert.equal(statuses[0], 'connecting');
  assert.equal(statuses.at(-1), 'live');
  assert.deepEqual(tracker.sessionIds, []);
});

test('over real HTTP: watchAll keeps one stream, learns of jobs created later and resumes from the opaque id', async (t) => {
  const sidecar = fakeSidecar();
  await new Promise((resolve) => sidecar.server.listen(0, '127.0.0.1', () => resolve(null)));
  t.after(() => new Promise((resolve) => { sidecar.dropClients(); sidecar.server.close(resolve); }));
  const { port } = /** @type {import('node:net').AddressInfo} */ (sidecar.server.address());
  /** @type {string[][]} */
  const asked = [];
  /** @type {string[]} */
  const seen = [];
  const tracker = new ProgressTracker({
    streamUrl: `http://127.0.0.1:${port}/api/progress/stream`,
    EventSource: NodeEventSource,
    backoffBaseMs: 10,
    backoffMaxMs: 50,
    onlineEvents: undefined,
    navigator: undefined,
    getToken: async (ids) => {
      asked.push(ids);
      sidecar.validTokens.add('all');
      return { token: 'all', expires_at: Math.floor(Date.now() / 1000) + 120, sessions: ['*'] };
    },
  });
  t.after(() => tracker.close());
  const opened = NodeEventSource.instances.length;
  sidecar.publish('old', 'complete', 4);
  tracker.watchAll((d) => seen.push(`${d.session_id ?? d.job?.session_id}:${d.type}:${d.job?.status ?? d.step}`));
  await until(() => sidecar.clientCount === 1 && seen.length === 1, 'the stream and its snapshot');
  sidecar.publishJob('new', 'queued'); // a job started elsewhere after the page connected
  sidecar.publish('new', 'progress', 1);
  await until(() => seen.length === 3, 'the new job on the same stream');
  sidecar.dropClients();
  sidecar.publish('new', 'progress', 2);
  sidecar.publish('new', 'complete', 3);
  await until(() => seen.length === 5, 'the events missed while disconnected');
  assert.deepEqual(seen, ['old:complete:4', 'new:job:queued', 'new:progress:1', 'new:progress:2', 'new:complete:3']);
  assert.deepEqual(asked, [['*']]);
  assert.equal(NodeEventSource.instances.length - opened, 2, 'one stream, reopened once after the drop');
  assert.deepEqual(sidecar.requests.slice(-2), ['?token=all', '?token=all&last_event_id=3']);
  assert.equal(tracker.lastEventId, '5');
});

test('fetchStatus reports the sidecar\'s error message', async (t) => {
  const sidecar = fakeSidecar();
  await new Promise((resolve) => sidecar.server.listen(0, '127.0.0.1', () => resolve(null)));
  t.after(() => new Promise((resolve) => sidecar.server.close(resolve)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (sidecar.server.address());
  const tracker = new ProgressTracker({
    streamUrl: `http://127.0.0.1:${port}/api/progress/stream`,
    EventSource: NodeEventSource,
    onlineEvents: undefined,
    getToken: async () => ({ token: 'tok', expires_at: Math.floor(Date.now() / 1000) + 120 }),
  });
  await assert.rejects(tracker.fetchStatus('a'), { message: 'igbridge status of a: no session a' });
  assert.deepEqual(sidecar.requests, ['?token=tok']);
});
