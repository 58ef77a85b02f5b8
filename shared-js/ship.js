// The files the WordPress plugin ships, made from src/: the same ES modules with their
// comments (JSDoc types, explanations) removed by TypeScript's own emitter, tab-indented,
// and the CSS without comments. No renaming, no minifying: the code stays readable and
// means exactly what src/ says. The dashboard has a 40 KB budget for all its JS + CSS.
//   node ship.js [dest]   writes them (sync.sh does this into the plugin)
import ts from 'typescript';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SRC = new URL('./src/', import.meta.url);
export const PLUGIN_COPY = new URL('../wp-plugin/igbridge/assets/progress/', import.meta.url);

const NOTE = 'generated from shared-js/src by sync.sh; edit there';

/** The ES module as TypeScript prints it without comments. @param {string} source @param {string} name */
function emit(source, name) {
  const options = { target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.ESNext, removeComments: true };
  const { outputText, diagnostics } = ts.transpileModule(source, { fileName: name, compilerOptions: options, reportDiagnostics: true });
  if (diagnostics?.length) {
    const text = diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ');
    throw new Error(`ship: ${name} does not parse: ${text}`);
  }
  return outputText;
}

/** @param {string} source @param {string} name */
export function shipScript(source, name) {
  const printed = emit(source, name);
  // The printer indents by four spaces; a tab per level (WordPress' own JS style) is smaller.
  const tabbed = printed.replace(/^(?: {4})+/gm, (indent) => '\t'.repeat(indent.length / 4));
  // Only indentation between tokens may change: a multi-line template literal (the one
  // token that can hold a line break) would have its text changed too.
  if (hasMultilineTemplate(printed, name)) throw new Error(`ship: ${name} has a multi-line template literal; re-indenting would change it`);
  return `// ${NOTE}\n${tabbed}`;
}

/** @param {string} code @param {string} name */
function hasMultilineTemplate(code, name) {
  const file = ts.createSourceFile(name, code, ts.ScriptTarget.ESNext, true, ts.ScriptKind.JS);
  /** @param {ts.Node} node @returns {boolean} */
  const visit = (node) => (ts.isTemplateLiteralToken(node) && node.getText(file).includes('\n'))
    || (ts.isStringLiteral(node) && node.getText(file).includes('\n')) || node.getChildren(file).some(visit);
  return visit(file);
}

/** @param {string} source @param {string} name */
export function shipStyles(source, name) {
  if (/["']/.test(source.replace(/\/\*[\s\S]*?\*\//g, ''))) {
    throw new Error(`ship: ${name} has quoted strings, where a comment-looking "/*" could hide; strip by hand`);
  }
  const css = source.replace(/\/\*[\s\S]*?\*\/[ \t]*\n?/g, '').replace(/\n{2,}/g, '\n');
  return `/* ${NOTE} */\n${css}`;
}

/** name → shipped text, for every .js and .css file in src/. @returns {Map<string, string>} */
export function shippedFiles() {
  const files = new Map();
  for (const name of readdirSync(SRC).filter((n) => /\.(js|css)$/.test(n)).sort()) {
    const source = readFileSync(new URL(name, SRC), 'utf8');
    files.set(name, name.endsWith('.css') ? shipStyles(source, name) : shipScript(source, name));
  }
  return files;
}

/** Replaces the .js and .css files in dest with the shipped ones. @param {URL} dest */
export function writeShipped(dest) {
  const files = shippedFiles();
  mkdirSync(dest, { recursive: true });
  for (const old of readdirSync(dest).filter((n) => /\.(js|css)$/.test(n))) rmSync(new URL(old, dest));
  for (const [name, text] of files) writeFileSync(new URL(name, dest), text);
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dest = process.argv[2] ? pathToFileURL(`${resolve(process.argv[2])}/`) : PLUGIN_COPY;
  const files = writeShipped(dest);
  const bytes = [...files.values()].reduce((sum, text) => sum + Buffer.byteLength(text), 0);
  console.log(`shipped ${files.size} files (${bytes} bytes) into ${fileURLToPath(dest)}`);
}
