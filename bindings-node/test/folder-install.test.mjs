// `npm install <checkout>/bindings-node` on a checkout that was never built: the package's install
// script builds the native module and the TypeScript (fetching its build tools), and the project
// can use it. (npm 11 warns that the script is "not yet covered by allowScripts", and runs it.)
// The checkout is a copy of the sources of INTERLOCK_SOURCE (scripts/test-node.sh sets it),
// without any build output; cargo reuses the compiled dependencies of the source tree's target
// directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

test('installing an unbuilt checkout\'s folder builds the package', () => {
  const source = process.env.INTERLOCK_SOURCE;
  assert.ok(source, 'INTERLOCK_SOURCE must name the source tree (bash scripts/test-node.sh sets it)');
  const checkout = join(process.cwd(), 'checkout');
  const project = join(process.cwd(), 'folder-project');
  rmSync(checkout, { recursive: true, force: true });
  rmSync(project, { recursive: true, force: true });
  mkdirSync(checkout);
  mkdirSync(project);
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    { cwd: source, encoding: 'utf8', maxBuffer: 64 << 20 }).split('\0').filter((f) => f && existsSync(join(source, f)));
  execFileSync('cp', ['--parents', '-t', checkout, ...files], { cwd: source });
  assert.equal(existsSync(join(checkout, 'bindings-node', 'dist')), false, 'the checkout has no build output');

  writeFileSync(join(project, 'package.json'), JSON.stringify({
    name: 'folder-project', private: true, type: 'module',
  }));
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', join(checkout, 'bindings-node')], {
    cwd: project, encoding: 'utf8', timeout: 900_000,
    env: { ...process.env, CARGO_TARGET_DIR: join(source, 'target') },
  });
  assert.equal(install.status, 0, `npm install failed:\n${install.stdout}${install.stderr}`);
  assert.ok(existsSync(join(checkout, 'bindings-node', 'dist', 'index.js')), 'the install built the package');

  const use = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { connect } from 'interlock-db';
    import { createRequire } from 'node:module';
    const db = await connect('mem://folder');
    const r = await db.put('k', { ok: true }, 0);
    const lock = db.lock('l');
    const token = await lock.acquire();
    await lock.release();
    console.log(JSON.stringify({ successful: r.successful, value: (await db.get('k')).value, token,
      from: createRequire(process.cwd() + '/').resolve('interlock-db') }));
    await db.close();
  `], { cwd: project, encoding: 'utf8', timeout: 60_000 });
  assert.equal(use.status, 0, use.stderr);
  const seen = JSON.parse(use.stdout);
  assert.deepEqual([seen.successful, seen.value, typeof seen.token], [true, { ok: true }, 'number']);
  assert.ok(realpathSync(seen.from).startsWith(realpathSync(checkout)), `interlock came from ${seen.from}`);
});
