// The README's WebAssembly example, exactly as printed, run as an ES module by Node against a
// real `interlock serve` over a fresh SQLite file (INTERLOCK_URL and INTERLOCK_TOKEN, as its
// comment says). Its import of `/pkg/index.js` (the path `interlock serve` serves the package
// at) is resolved to this package's dist/ by a module hook; nothing of the code is changed. Then
// the store is as its comments promise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as interlock from '../dist/index.js';
import { TOKEN, serve } from './serve.mjs';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
// The languages a JavaScript example can be marked with; bindings-node/test/readme.test.mjs checks
// that README.md and docs/*.md have no JavaScript example but this one and the Node one.
const JS = ['js', 'javascript', 'mjs', 'cjs', 'ts', 'typescript'];
const DIST = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href;

test('the README\'s WebAssembly example runs as printed and does what it says', async () => {
  const section = readFileSync(README, 'utf8').split('## Using it from a browser (WebAssembly)')[1].split('\n## ')[0];
  const examples = [...section.matchAll(/```(\w+)\n(.*?)```/gs)].filter((m) => JS.includes(m[1]));
  assert.equal(examples.length, 1, 'the WebAssembly section has one JavaScript example');
  const code = examples[0][2];

  const dir = mkdtempSync(join(tmpdir(), 'interlock-wasm-readme-'));
  writeFileSync(join(dir, 'example.mjs'), code);
  writeFileSync(join(dir, 'hooks.mjs'), `
    export async function resolve(specifier, context, next) {
      return next(specifier === '/pkg/index.js' ? ${JSON.stringify(DIST)} : specifier, context);
    }`);
  writeFileSync(join(dir, 'register.mjs'), `
    import { register } from 'node:module';
    register('./hooks.mjs', import.meta.url);`);

  const server = await serve();
  try {
    const run = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), join(dir, 'example.mjs')], {
      encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, INTERLOCK_URL: server.url, INTERLOCK_TOKEN: TOKEN },
    });
    assert.equal(run.signal, null, `the example did not end by itself:\n${run.stdout}${run.stderr}`);
    assert.equal(run.status, 0, `the README example failed:\n${run.stderr}`);
    assert.doesNotMatch(run.stdout, /the reports are busy/, 'the lock was free');
    // The watch printed the fenced write from the first index, then ended.
    assert.match(run.stdout, /^put reports\/latest \{ by: 'dashboard', fence: \d+ \}$/m);

    const db = await interlock.connect(server.url, { token: TOKEN });
    const latest = await db.get('reports/latest');
    assert.equal(latest.value.by, 'dashboard');
    assert.ok(latest.value.fence > 0, 'written with the fencing token');
    assert.deepEqual(await db.lockQueue('reports'), [], 'the lock was released');
    await db.close();
  } finally {
    await server.stop();
  }
});
