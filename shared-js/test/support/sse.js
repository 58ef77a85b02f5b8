/**
 * Incremental SSE parser (WHATWG field rules), used by the Node EventSource of the
 * tests: feed it the unparsed rest plus a new chunk; it returns the complete events
 * and the new rest.
 * @param {string} buffer
 * @returns {{events: import('../../src/types.js').SseEvent[], rest: string}}
 */
export function parseSseChunk(buffer) {
  const events = [];
  const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    /** @type {string[]} */
    const data = [];
    const event = { id: /** @type {string | null} */ (null), event: 'message', data: '', retry: /** @type {number | null} */ (null) };
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (!line || line[0] === ':') continue; // comments such as ": hb"
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
      if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) event.id = value;
      else if (field === 'event') event.event = value;
      else if (field === 'retry' && /^\d+$/.test(value)) event.retry = Number(value);
    }
    event.data = data.join('\n');
    if (data.length || event.id !== null || event.retry !== null) events.push(event);
  }
  return { events, rest };
}
