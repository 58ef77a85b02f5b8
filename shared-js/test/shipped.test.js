// What the WordPress plugin ships: exactly what ship.js makes from src/ (comments out,
// code unchanged), within the admin page's budget, with CSS that follows the admin
// colour scheme and respects reduced motion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { PLUGIN_COPY, SRC, shipScript, shipStyles, shippedFiles, writeShipped } from '../ship.js';

const BUDGET_BYTES = 22 * 1024; // of the dashboard's 40 KB (tests/e2e/test_plugin_assets.py says why)

test('the plugin copies are what sync.sh makes from src/ (run shared-js/sync.sh after editing src/)', () => {
  const expected = shippedFiles();
  assert.deepEqual(readdirSync(PLUGIN_COPY).sort(), [...expected.keys()], 'same files in wp-plugin/igbridge/assets/progress/');
  for (const [name, text] of expected) {
    assert.equal(readFileSync(new URL(name, PLUGIN_COPY), 'utf8'), text, `${name} differs from src/: run shared-js/sync.sh`);
  }
});

test('writeShipped replaces stale files in its destination', () => {
  const dir = mkdtempSync(join(tmpdir(), 'igb-ship-'));
  try {
    const dest = pathToFileURL(`${dir}/`);
    writeShipped(dest);
    writeShipped(dest); // idempotent
    assert.deepEqual(readdirSync(dest).sort(), [...shippedFiles().keys()]);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

/** Every token of a script, comments and layout left out. @param {string} code */
function tokens(code) {
  const file = ts.createSourceFile('x.js', code, ts.ScriptTarget.ESNext, true, ts.ScriptKind.JS);
  /** @type {string[]} */
  const found = [];
  /** @param {ts.Node} node */
  const walk = (node) => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    const children = node.getChildren(file);
    if (!children.length && node.kind !== ts.SyntaxKind.EndOfFileToken) found.push(node.getText(file));
    children.forEach(walk);
  };
  walk(file);
  return found.filter((t) => t && t !== '(' && t !== ')'); // JSDoc casts `/** @type */ (x)` keep or lose their parens
}

test('the shipped scripts hold the same code as src/, without comments', () => {
  for (const name of readdirSync(SRC).filter((n) => n.endsWith('.js'))) {
    const source = readFileSync(new URL(name, SRC), 'utf8');
    const shipped = shipScript(source, name);
    assert.deepEqual(tokens(shipped), tokens(source), name);
    assert.doesNotMatch(shipped.split('\n').slice(1).join('\n'), /\/\/|\/\*/, `${name} still has comments`);
    assert.ok(shipped.length < source.length * 0.85, `${name}: ${shipped.length} of ${source.length} bytes`);
  }
});

test('shipping refuses code that re-indenting would change', () => {
  assert.throws(() => shipScript('export const text = `one\n    two`;\n', 'multi.js'), /multi-line template literal/);
});

test('the shipped CSS is src/ without its comments', () => {
  const source = readFileSync(new URL('progress.css', SRC), 'utf8');
  const shipped = shipStyles(source, 'progress.css');
  const rules = (/** @type {string} */ css) => css.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\s+/g, ' ').trim();
  assert.equal(rules(shipped), rules(source));
  assert.equal(shipped.match(/\/\*/g)?.length, 1, 'only the "generated from" note');
  assert.throws(() => shipStyles('a::before { content: "/* x */"; }', 'quoted.css'), /quoted strings/);
});

test(`the shipped files stay within ${BUDGET_BYTES} bytes of the dashboard's 40 KB budget`, () => {
  const total = [...shippedFiles().values()].reduce((sum, text) => sum + Buffer.byteLength(text), 0);
  assert.ok(total <= BUDGET_BYTES, `${total} bytes`);
});

test('CSS follows the admin colour scheme and stops animating for reduced motion', () => {
  const css = readFileSync(new URL('progress.css', PLUGIN_COPY), 'utf8');
  assert.match(css, /--igb-accent:\s*var\(--wp-admin-theme-color,\s*#2271b1\)/);
  const reduced = css.slice(css.indexOf('@media (prefers-reduced-motion: reduce)'));
  assert.match(reduced, /\.igb-progress--running \.igb-progress__fill \{ animation: none; \}/);
  for (const state of ['starting', 'running', 'complete', 'error', 'cancelled']) assert.match(css, new RegExp(`\\.igb-progress--${state}`));
});
