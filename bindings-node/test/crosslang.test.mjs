// Python and Node processes contending for one lock and one counter, on one SQLite file and on
// the etcd cluster: every increment is kept, and in the order the lock was granted the fencing
// tokens strictly increase, whichever language held it. The Python interpreter with the
// interlock package installed is INTERLOCK_PYTHON (scripts/test-node.sh sets it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from 'interlock-db';
import { etcdPrefixUrl, sqliteUrl, withEtcd } from './stores.mjs';
import { DEADLINE } from './workers/run.mjs';

const python = process.env.INTERLOCK_PYTHON;
const here = (file) => fileURLToPath(new URL(`./workers/${file}`, import.meta.url));

/** Starts a worker. `ready` resolves once it has connected; `done` resolves to the JSON it
 * printed last once it exits 0 (else rejects with its stderr). */
function start(command, args) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let connected;
  const ready = new Promise((resolve) => { connected = resolve; });
  child.stdout.on('data', (d) => {
    out += d;
    if (out.startsWith('ready\n')) connected();
  });
  child.stderr.on('data', (d) => { err += d; });
  // A worker that died cannot take its 'go': that shows in `done`, not as an EPIPE here.
  child.stdin.on('error', () => {});
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${DEADLINE} ms\n${err}`));
    }, DEADLINE);
    child.on('error', reject);
    // 'close', not 'exit': by then all of its output has been read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.slice('ready\n'.length)));
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${err}`));
    });
  });
  return { child, ready, done };
}

const stores = [['sqlite', sqliteUrl]];
if (withEtcd()) stores.push(['etcd', etcdPrefixUrl]);

for (const [name, url] of stores) {
  test(`${name}: Python and Node processes share one lock and counter exactly`, async () => {
    assert.ok(python, 'INTERLOCK_PYTHON must name a Python with interlock installed '
      + '(bash scripts/test-node.sh sets it)');
    const store = url();
    const db = await connect(store);
    const rounds = 15;
    let workers = [];
    try {
      workers = [
        ['python', start(python, [here('cross_worker.py'), store, String(rounds)])],
        ['python', start(python, [here('cross_worker.py'), store, String(rounds)])],
        ['node', start(process.execPath, [here('cross.mjs'), store, String(rounds)])],
        ['node', start(process.execPath, [here('cross.mjs'), store, String(rounds)])],
      ];
      // All connected first, then all at once.
      await Promise.all(workers.map(([language, w]) => Promise.race([
        w.ready,
        w.done.then(() => { throw new Error(`a ${language} worker exited before it was ready`); }),
      ])));
      for (const [, w] of workers) w.child.stdin.end('go\n');
      const seen = await Promise.all(workers.map(async ([language, w]) =>
        (await w.done).map(([token, value]) => ({ language, token, value }))));

      const total = workers.length * rounds;
      assert.equal((await db.get('counters/shared')).value, total);
      for (const own of seen) {
        for (let i = 1; i < own.length; i++) assert.ok(own[i - 1].token < own[i].token);
      }
      // Every value 0..total-1 was read exactly once, and in that order the tokens increase.
      const byValue = seen.flat().sort((a, b) => a.value - b.value);
      assert.deepEqual(byValue.map((g) => g.value), [...Array(total).keys()]);
      for (let i = 1; i < byValue.length; i++) {
        assert.ok(byValue[i - 1].token < byValue[i].token,
          `${byValue[i].language} got token ${byValue[i].token} after ${byValue[i - 1].language}'s ${byValue[i - 1].token}`);
      }
      assert.deepEqual(await db.lockQueue('shared-counter'), []);
    } finally {
      for (const [, w] of workers) w.child.kill('SIGKILL');
      await db.close();
    }
  });
}
