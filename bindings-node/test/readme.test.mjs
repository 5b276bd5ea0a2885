// The README's Node example, exactly as printed: type-checked with tsc (checkJs) against the
// installed package's declarations, and run as an ES module by this Node (20 in CI: the example
// must not use syntax it lacks, such as `await using`) in a fresh process, on a fresh store
// named by INTERLOCK_URL, as the example says. Then the store is as its comments promise. The
// README is INTERLOCK_README (scripts/test-node.sh sets it). The WebAssembly section's example
// is run by bindings-wasm/test/readme.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'interlock-db';

/** The code blocks of a README section, by language. */
function blocks(readme, heading) {
  const section = readFileSync(readme, 'utf8').split(`## ${heading}`)[1].split('\n## ')[0];
  return [...section.matchAll(/```(\w+)\n(.*?)```/gs)].map((m) => ({ lang: m[1], code: m[2] }));
}

const JS = ['js', 'javascript', 'mjs', 'cjs', 'ts', 'typescript'];

test('the documentation\'s only JavaScript examples are the two the README tests run', () => {
  // README.md and docs/*.md: the Node example (run here) and the WebAssembly one
  // (bindings-wasm/test/readme.test.mjs); one added anywhere else would run nowhere.
  const readme = process.env.INTERLOCK_README;
  assert.ok(readme, 'INTERLOCK_README must name the README (bash scripts/test-node.sh sets it)');
  const docs = join(dirname(readme), 'docs');
  const files = [readme, ...readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => join(docs, f))];
  const found = files.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/^```(\w+)\n/gm)]
    .filter((m) => JS.includes(m[1])).map(() => file));
  assert.deepEqual(found, [readme, readme], `JavaScript blocks: ${found.join(', ')}`);
  assert.equal(blocks(readme, 'Using it from Node').filter((b) => JS.includes(b.lang)).length, 1);
  assert.equal(blocks(readme, 'Using it from a browser (WebAssembly)').filter((b) => JS.includes(b.lang)).length, 1);
});

test('the README\'s Node example type-checks, runs as printed, and does what it says', async () => {
  const readme = process.env.INTERLOCK_README;
  assert.ok(readme, 'INTERLOCK_README must name the README (bash scripts/test-node.sh sets it)');
  const examples = blocks(readme, 'Using it from Node').filter((b) => JS.includes(b.lang));
  assert.equal(examples.length, 1, 'the Node section has one JavaScript example');
  const [{ code }] = examples;

  // In a directory of the scratch project, so that `interlock` is the installed package.
  const dir = join(process.cwd(), 'readme-example');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'example.mjs'), code);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', lib: ['ES2022', 'ESNext.Disposable', 'DOM'], module: 'nodenext',
      moduleResolution: 'nodenext', allowJs: true, checkJs: true, noEmit: true, types: ['node'],
    },
    files: ['example.mjs'],
  }));
  const tsc = spawnSync(process.execPath, [join(process.cwd(), 'node_modules/typescript/bin/tsc'), '-p', dir],
    { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc failed on the README example:\n${tsc.stdout}${tsc.stderr}`);

  const store = `sqlite://${join(mkdtempSync(join(tmpdir(), 'interlock-node-readme-')), 'coord.db')}`;
  const run = spawnSync(process.execPath, [join(dir, 'example.mjs')], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, INTERLOCK_URL: store },
  });
  assert.equal(run.signal, null, `the example did not end by itself:\n${run.stdout}${run.stderr}`);
  assert.equal(run.status, 0, `the README example failed:\n${run.stderr}`);
  assert.equal(run.stderr, '', 'nothing on stderr (the lock was not lost)');
  const printed = run.stdout.split('\n');
  const fence = Number(/^printing with fence (\d+)$/m.exec(run.stdout)?.[1]);
  const report = Number(/^writing the report with fence (\d+)$/m.exec(run.stdout)?.[1]);
  assert.ok(fence > 0 && report > 0, `both locks were taken with their fencing tokens:\n${run.stdout}`);
  assert.doesNotMatch(run.stdout, /taken by/, 'the address was free');
  assert.doesNotMatch(run.stdout, /conflicts|key:/, 'the session saved without a conflict');
  // The watch printed the address's creation from the first index, then ended.
  assert.ok(printed.some((l) => /^put emails\/a@b\.c \d+$/.test(l)), `the watch's event:\n${run.stdout}`);

  const db = await connect(store);
  assert.equal((await db.get('emails/a@b.c')).value, 'users/1');
  assert.deepEqual((await db.get('accounts/1')).value, { funds: 90 });
  assert.deepEqual((await db.get('accounts/2')).value, { funds: 15 });
  // Both locks were let go: the callback's when it returned, the other in `finally`.
  assert.deepEqual(await db.lockQueue('printer/first-floor'), []);
  assert.deepEqual(await db.lockQueue('reports'), []);
  await db.close();
});
