// A minimal EventSource for Node over node:http, so the tracker can be run against a
// real HTTP server. Unlike a browser it never retries by itself: any end or non-200
// answer leaves it CLOSED, which is the case the tracker must handle on its own.
import http from 'node:http';
import { parseSseChunk } from './sse.js';

export class NodeEventSource {
  /** @type {NodeEventSource[]} */
  static instances = [];

  /** @param {string} url */
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.lastEventId = '';
    /** @type {any} */ this.onopen = null;
    /** @type {any} */ this.onmessage = null;
    /** @type {any} */ this.onerror = null;
    NodeEventSource.instances.push(this);
    this.request = http.get(url, { headers: { accept: 'text/event-stream' } }, (response) => {
      if (response.statusCode !== 200 || !String(response.headers['content-type']).startsWith('text/event-stream')) {
        response.resume();
        this.fail();
        return;
      }
      this.readyState = 1;
      this.onopen?.({ type: 'open' });
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        const { events, rest } = parseSseChunk(buffer + chunk);
        buffer = rest;
        for (const event of events) {
          if (event.id !== null) this.lastEventId = event.id;
          if (event.data && this.readyState === 1) this.onmessage?.({ data: event.data, lastEventId: this.lastEventId });
        }
      });
      response.on('end', () => this.fail());
      response.on('error', () => this.fail());
    });
    this.request.on('error', () => this.fail());
  }

  fail() {
    if (this.readyState === 2) return;
    this.readyState = 2;
    this.onerror?.({ type: 'error' });
  }

  close() {
    this.readyState = 2;
    this.request.destroy();
  }
}
