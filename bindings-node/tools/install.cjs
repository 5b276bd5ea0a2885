// The package's install step. A package built with `npm pack` carries its native module and
// does nothing here. A source checkout (`npm install ./bindings-node` before any build) is built
// now: its build tools (@napi-rs/cli, TypeScript) are installed into the folder first, then
// `npm run build` compiles the Rust crate with cargo.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const built = fs.existsSync(path.join(root, 'dist', 'index.js')) &&
  fs.readdirSync(path.join(root, 'dist')).some((f) => f.endsWith('.node'));
if (built || process.env.INTERLOCK_SKIP_BUILD) {
  process.exit(0);
}
if (!fs.existsSync(path.join(root, 'Cargo.toml'))) {
  console.error('interlock: this package has no native module for this platform and no sources to build one');
  process.exit(1);
}
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit', env: { ...process.env, INTERLOCK_SKIP_BUILD: '1' } });
if (!fs.existsSync(path.join(root, 'node_modules', '@napi-rs', 'cli'))) {
  run('npm install --no-save --no-audit --no-fund --ignore-scripts');
}
run('npm run build');
