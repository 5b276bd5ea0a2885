// The README's Node example, type-checked with tsc against the installed package's declarations
// and run as written in a fresh process, leaves the store as its comments promise. The README is
// INTERLOCK_README (scripts/test-node.sh sets it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'interlock';

test('the README\'s Node example compiles and does what it says', async () => {
  const readme = process.env.INTERLOCK_README;
  assert.ok(readme, 'INTERLOCK_README must name the README (bash scripts/test-node.sh sets it)');
  const section = readFileSync(readme, 'utf8').split('## Using it from Node')[1].split('\n## ')[0];
  const [example] = [...section.matchAll(/```ts\n(.*?)```/gs)].map((m) => m[1]);
  assert.ok(example, 'the README has no Node example');

  // The example's store path is a server path, and its watch runs a minute: point it at the
  // test's directory and let the watch end sooner.
  const store = join(mkdtempSync(join(tmpdir(), 'interlock-node-readme-')), 'coord.db');
  assert.ok(example.includes('sqlite:///var/lib/app/coord.db'));
  assert.ok(example.includes('AbortSignal.timeout(60_000)'));
  const code = example.replace('sqlite:///var/lib/app/coord.db', `sqlite://${store}`)
    .replace('AbortSignal.timeout(60_000)', 'AbortSignal.timeout(300)');
  // `printJob` stands for the user's work under the lock; it shows the fencing token.
  const prelude = 'async function printJob({ fence }: { fence: number | null }) {\n'
    + '  console.log(`printed with fence ${fence}`);\n}\n';

  const seed = await connect(`sqlite://${store}`);
  await seed.put('accounts/1', { funds: 100 }, { index: 0 });
  await seed.put('accounts/2', { funds: 5 }, { index: 0 });

  // Compiled in a directory of the scratch project, so that `interlock` is the installed package.
  const dir = join(process.cwd(), 'readme-example');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'example.mts'), prelude + code);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', lib: ['ES2022', 'ESNext.Disposable'], module: 'nodenext',
      moduleResolution: 'nodenext', strict: true, types: ['node'], outDir: '.',
    },
    files: ['example.mts'],
  }));
  const tsc = spawnSync(process.execPath, [join(process.cwd(), 'node_modules/typescript/bin/tsc'), '-p', dir],
    { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc failed on the README example:\n${tsc.stdout}${tsc.stderr}`);
  const run = spawnSync(process.execPath, [join(dir, 'example.mjs')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `the README example failed:\n${run.stderr}`);
  assert.match(run.stdout, /printed with fence \d+/);
  assert.doesNotMatch(run.stdout, /taken by/); // the address was free

  assert.equal((await seed.get('emails/a@b.c')).value, 'users/1');
  assert.deepEqual((await seed.get('accounts/1')).value, { funds: 90 });
  assert.deepEqual((await seed.get('accounts/2')).value, { funds: 15 });
  // Both locks were let go: the callback's when it returned, the scoped one at the block's end.
  assert.deepEqual(await seed.lockQueue('printer/first-floor'), []);
  assert.deepEqual(await seed.lockQueue('reports'), []);
  await seed.close();
});
