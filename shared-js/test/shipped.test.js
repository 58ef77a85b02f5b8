// What the WordPress plugin ships: identical copies of src/, a small budget, and CSS
// that follows the admin colour scheme and respects reduced motion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';

const src = new URL('../src/', import.meta.url);
const shipped = new URL('../../wp-plugin/igbridge/assets/progress/', import.meta.url);
const isShipped = (/** @type {string} */ name) => /\.(js|css)$/.test(name);
const BUDGET_BYTES = 24 * 1024;

test('the plugin copies equal src/ (run shared-js/sync.sh after editing src/)', () => {
  const expected = readdirSync(src).filter(isShipped).sort();
  assert.deepEqual(readdirSync(shipped).sort(), expected, 'same files in wp-plugin/igbridge/assets/progress/');
  for (const name of expected) {
    assert.ok(readFileSync(new URL(name, shipped)).equals(readFileSync(new URL(name, src))), `${name} differs from src/: run shared-js/sync.sh`);
  }
});

test(`the shipped files stay within ${BUDGET_BYTES} bytes of the plugin's 30 KB admin budget`, () => {
  const total = readdirSync(src).filter(isShipped).reduce((sum, name) => sum + readFileSync(new URL(name, src)).length, 0);
  assert.ok(total <= BUDGET_BYTES, `${total} bytes`);
});

test('CSS follows the admin colour scheme and stops animating for reduced motion', () => {
  const css = readFileSync(new URL('progress.css', src), 'utf8');
  assert.match(css, /--igb-accent:\s*var\(--wp-admin-theme-color,\s*#2271b1\)/);
  const reduced = css.slice(css.indexOf('@media (prefers-reduced-motion: reduce)'));
  assert.match(reduced, /\.igb-progress--running \.igb-progress__fill \{ animation: none; \}/);
  for (const state of ['starting', 'running', 'complete', 'error', 'cancelled']) assert.match(css, new RegExp(`\\.igb-progress--${state}`));
});
