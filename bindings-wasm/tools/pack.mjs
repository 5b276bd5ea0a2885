// Usage: node tools/pack.mjs OUT_DIR. Packs the built package (dist/, from scripts/build-wasm.sh)
// as the npm tarball interlock-db-wasm-<version>.tgz, with its README and the project's LICENSE
// and without the build scripts and tools. Prints the tarball's path.
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, '..', 'dist'));
if (!existsSync(join(root, 'dist', 'interlock_wasm_bg.wasm'))) {
  throw new Error('no dist/interlock_wasm_bg.wasm: run scripts/build-wasm.sh first');
}
const { scripts: _scripts, devDependencies: _dev, ...published } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const stage = mkdtempSync(join(tmpdir(), 'interlock-db-wasm-pack-'));
try {
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
  cpSync(join(root, 'dist'), join(stage, 'dist'), { recursive: true });
  copyFileSync(join(root, 'README.md'), join(stage, 'README.md'));
  copyFileSync(join(root, '..', 'LICENSE'), join(stage, 'LICENSE'));
  mkdirSync(out, { recursive: true });
  const name = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', out], {
    cwd: stage, encoding: 'utf8',
  }).trim().split('\n').pop();
  console.log(join(out, name));
} finally {
  rmSync(stage, { recursive: true, force: true });
}
