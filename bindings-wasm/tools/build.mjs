// Builds dist/: the Node package's TypeScript layer (bindings-node/lib: the public API, its
// error classes and JSON checks, typed against the native module's interface) compiled as ES
// modules over this package's native module, which is lib/native.js plus wasm-bindgen's output
// in build/wasm (scripts/build-wasm.sh produces it).
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shared = join(root, '..', 'bindings-node', 'lib');
const ts = join(root, 'build', 'ts');
const wasm = join(root, 'build', 'wasm');
const dist = join(root, 'dist');

rmSync(ts, { recursive: true, force: true });
mkdirSync(ts, { recursive: true });
for (const f of ['index.ts', 'errors.ts', 'json.ts', 'native.d.ts']) {
  cpSync(join(shared, f), join(ts, f));
}
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], {
  stdio: 'inherit',
});
cpSync(join(root, 'lib', 'native.js'), join(dist, 'native.js'));
cpSync(join(ts, 'native.d.ts'), join(dist, 'native.d.ts'));
const generated = readdirSync(wasm).filter((f) => f.startsWith('interlock_wasm'));
if (!generated.includes('interlock_wasm_bg.wasm')) {
  throw new Error(`no interlock_wasm_bg.wasm in ${wasm}: run scripts/build-wasm.sh`);
}
for (const f of generated) {
  cpSync(join(wasm, f), join(dist, f));
}
console.log(`dist/: the TypeScript layer and ${generated.join(', ')}`);
