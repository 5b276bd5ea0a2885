// AbortSignal on lock waits, and the event loop after close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, AbortError, InterlockError } from 'interlock-db';
import { stores } from './stores.mjs';

for (const [store, url] of stores()) {
  test(`${store}: aborting a lock wait rejects with AbortError and removes the waiter`, async () => {
    const db = await connect(url());
    const holder = db.lock('busy');
    await holder.acquire();
    const waiter = db.lock('busy');
    const controller = new AbortController();
    const waiting = waiter.acquire({ signal: controller.signal });
    while ((await db.lockQueue('busy')).length < 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
    controller.abort();
    await assert.rejects(waiting, (e) => {
      assert.ok(e instanceof AbortError && e instanceof InterlockError);
      assert.equal(e.name, 'AbortError');
      assert.equal(e.code, 'ABORT_ERR');
      // Like every error class but ConcurrencyError, its kind is its name without "Error".
      assert.equal(e.kind, 'Abort');
      return true;
    });
    for (let i = 0; (await db.lockQueue('busy')).length !== 1; i++) {
      assert.ok(i < 500, 'the aborted waiter is removed');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(waiter.held, false);
    await assert.rejects(waiter.acquire({ signal: AbortSignal.abort() }), { code: 'ABORT_ERR' });
    await holder.release();
    assert.equal(typeof (await waiter.acquire({ signal: new AbortController().signal })), 'number',
      'the lock object is usable again');
    await waiter.release();
    await db.close();
  });
}

test('nothing keeps the event loop alive after close()', () => {
  // A process that holds a lock (so a lease keeper runs), watches, then closes the client and
  // lets go of everything must exit by itself.
  const script = `
    import { connect } from 'interlock-db';
    const db = await connect('mem://exit');
    const lock = db.lock('held', { ttl: 2 });
    await lock.acquire();
    lock.onLost(() => {});
    void lock.waitLost();
    const lease = await db.lease(2);
    void lease.waitLost();
    const w = db.watch('x/');
    const pending = w.next();
    await db.set('x/1', 1);
    await pending;
    await w.return();
    await lock.release();
    await db.close();
    console.log('closed');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: process.cwd(), encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(r.signal, null, `the process did not exit by itself: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'closed');
});

test('CommonJS and ESM share one copy of every class', async () => {
  const { createRequire } = await import('node:module');
  const require = createRequire(`${process.cwd()}/`);
  const cjs = require('interlock-db');
  const esm = await import('interlock-db');
  assert.equal(cjs.connect, esm.connect);
  assert.equal(cjs.ConcurrencyError, esm.ConcurrencyError);
  const db = await cjs.connect('mem://cjs');
  await assert.rejects(db.txn().check('k', 5).commit(), esm.ConcurrencyError);
  await db.close();
});
