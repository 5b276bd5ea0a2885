// Completes dist/ after tsc: the native module and its loader next to index.js, and an ES module
// entry that re-exports the CommonJS one (one copy of every class, so `instanceof` holds for
// importers and requirers alike).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
for (const f of ['native.js', 'native.d.ts']) {
  fs.copyFileSync(path.join(root, 'lib', f), path.join(dist, f));
}
const binaries = fs.readdirSync(root).filter((f) => f.endsWith('.node'));
if (binaries.length === 0) {
  throw new Error('no .node file: run `napi build` first');
}
for (const f of binaries) {
  fs.copyFileSync(path.join(root, f), path.join(dist, f));
}
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== 'default');
const esm = [
  "import cjs from './index.js';",
  `export const { ${names.join(', ')} } = cjs;`,
  'export default cjs;',
  '',
].join('\n');
fs.writeFileSync(path.join(dist, 'index.mjs'), esm);
console.log(`dist/: ${binaries.join(', ')}, ESM entry with ${names.length} exports`);
