// Test doubles for the tracker's injectable collaborators: an EventSource the test
// drives frame by frame (with the browser's lastEventId rules), and a manual clock.
import { parseSseChunk } from './sse.js';

export const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A fresh EventSource class per test, recording every instance it made. */
export function fakeEventSourceClass() {
  class FakeEventSource {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSED = 2;
    /** @type {FakeEventSource[]} */
    static instances = [];

    /** @param {string} url */
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.lastEventId = '';
      /** @type {any} */ this.onopen = null;
      /** @type {any} */ this.onmessage = null;
      /** @type {any} */ this.onerror = null;
      this.buffer = '';
      FakeEventSource.instances.push(this);
    }

    get params() { return new URL(this.url).searchParams; }
    get sessions() { return this.params.getAll('session'); }

    open() {
      this.readyState = 1;
      this.onopen?.({ type: 'open' });
    }

    /** Feed raw SSE text, as the server would write it. @param {string} text */
    feed(text) {
      const { events, rest } = parseSseChunk(this.buffer + text);
      this.buffer = rest;
      for (const event of events) {
        if (event.id !== null) this.lastEventId = event.id; // persists across frames, as in browsers
        if (!event.data || this.readyState === 2) continue;
        this.onmessage?.({ data: event.data, lastEventId: this.lastEventId });
      }
    }

    /** One frame: `id: N` (omitted when null) and `data: JSON`. @param {number|string|null} id @param {object} data */
    frame(id, data) {
      this.feed(`${id === null ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
    }

    /** Network error: the browser keeps the source and retries by itself. */
    dropAndRetry() {
      this.readyState = 0;
      this.onerror?.({ type: 'error' });
    }

    /** HTTP error (401/502/503): the browser gives up. */
    failClosed() {
      this.readyState = 2;
      this.onerror?.({ type: 'error' });
    }

    close() {
      this.readyState = 2;
      this.closedByClient = true;
    }
  }
  return FakeEventSource;
}

/** Timers that fire only when the test advances the clock. */
export function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  let seq = 0;
  /** @type {Map<number, {at: number, fn: () => void}>} */
  const timers = new Map();
  return {
    now: () => now,
    /** @param {() => void} fn @param {number} ms */
    setTimeout: (fn, ms) => {
      timers.set(++seq, { at: now + ms, fn });
      return seq;
    },
    /** @param {number} id */
    clearTimeout: (id) => { timers.delete(id); },
    /** Delays of the pending timers, from now. */
    pending: () => [...timers.values()].map((t) => t.at - now),
    /** Move time on, firing due timers in order and letting promises settle. @param {number} ms */
    async advance(ms) {
      const until = now + ms;
      await flush();
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await flush();
      }
      now = until;
      await flush();
    },
  };
}
