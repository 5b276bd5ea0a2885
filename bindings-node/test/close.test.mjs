// client.close(): the core's close through the package. The client's leases are revoked, so the
// locks it holds free at once for other clients and are lost to their holders; its pending
// acquires reject; nothing of it keeps renewing; every later use of it or of its locks, leases,
// sessions and transactions is refused with InvalidArgumentError. And a held lock stays held
// when nothing refers to its object any more, through garbage collections, until its client
// closes (V8 may collect a variable that is in scope but unused; the program still holds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, InvalidArgumentError, LockLostError } from 'interlock-db';
import { stores, within } from './stores.mjs';

/** Rejects (or throws) InvalidArgumentError saying the client is closed. */
async function refused(what, run) {
  await assert.rejects(async () => run(), (e) => {
    assert.ok(e instanceof InvalidArgumentError, `${what}: ${e?.name}: ${e?.message}`);
    assert.equal(e.code, 'ERR_INVALID_ARGUMENT', what);
    assert.match(e.message, /closed/, what);
    return true;
  });
}

for (const [store, url] of stores()) {
  test(`${store}: close() frees the client's locks at once and the holder sees them lost`, async () => {
    const u = url();
    const a = await connect(u);
    const b = await connect(u);
    const held = a.lock('printer', { ttl: 60 });
    const token = await held.acquire();
    const lost = held.waitLost();
    let called = 0;
    const callback = new Promise((resolve) => held.onLost(() => { called++; resolve(); }));
    const other = b.lock('printer', { ttl: 60 });
    const waiting = other.acquire({ timeout: 10 }); // far below the TTL of 60 s
    while ((await b.lockQueue('printer')).length < 2) await new Promise((r) => setTimeout(r, 5));

    const closing = a.close();
    assert.ok(closing instanceof Promise, 'close() returns a promise');
    await closing;
    assert.ok((await waiting) > token, 'the other client got the lock, with a greater token');
    await within(lost, 'lock.lost after close()');
    await within(callback, 'the onLost callback after close()');
    assert.equal(called, 1, 'onLost ran once');
    assert.equal(held.lost, true);
    await assert.rejects(held.release(), (e) => {
      assert.ok(e instanceof LockLostError, `${e?.name}: ${e?.message}`);
      assert.match(e.message, /let go when its client was closed/);
      return true;
    });
    assert.equal(a.closed, true);
    await a.close(); // idempotent
    await other.release();
    await b.close();
  });

  test(`${store}: close() ends a pending acquire of the client with InvalidArgumentError`, async () => {
    const u = url();
    const a = await connect(u);
    const b = await connect(u);
    const holder = b.lock('queue', { ttl: 60 });
    const token = await holder.acquire();
    const waiting = refused('the pending acquire', () => a.lock('queue', { ttl: 60 }).acquire());
    while ((await b.lockQueue('queue')).length < 2) await new Promise((r) => setTimeout(r, 5));
    await a.close();
    await waiting;
    assert.deepEqual((await b.lockQueue('queue')).map((w) => w.token), [token], 'the waiter entry is gone');
    await holder.release();
    await b.close();
  });

  test(`${store}: a watch whose client closes while it starts ends quietly`, async () => {
    const db = await connect(url());
    const watch = db.watch('w/');
    await db.close();
    assert.deepEqual(await within(watch.next(), 'the watch ending'), { done: true, value: undefined });
  });

  test(`${store}: after close() nothing renews, and every handle of the client refuses use`, async () => {
    const u = url();
    const a = await connect(u);
    const b = await connect(u);
    const lock = a.lock('renewed', { ttl: 60 });
    await lock.acquire();
    const sharedLease = (await b.lockQueue('renewed'))[0].lease;
    const lease = await a.lease(60);
    const spare = a.lock('spare', { ttl: 60 });
    const session = a.session();
    const txn = a.txn().set('t', 1);
    const watch = a.watch('w/');
    const first = watch.next();
    await a.set('w/1', 1);
    assert.equal((await first).value.key, 'w/1', 'the watch is open');
    const next = watch.next();
    await a.close();

    // Both leases were revoked (a lease still renewed would have time left).
    assert.equal(await b.timeToLive(sharedLease), null, 'the shared lock lease is gone');
    assert.equal(await b.timeToLive(lease.id), null, 'the client\'s lease is gone');
    assert.deepEqual(await within(next, 'the watch ending'), { done: true, value: undefined });

    await refused('get', () => a.get('k'));
    await refused('set', () => a.set('k', 1));
    await refused('lock()', () => a.lock('new'));
    await refused('lease()', () => a.lease(5));
    await refused('watch()', () => a.watch('w/').next());
    await refused('session()', () => a.session());
    await refused('an unused lock object', () => spare.acquire({ timeout: 1 }));
    await refused('tryAcquire', () => spare.tryAcquire());
    await refused('the released-by-close lock, acquired again', async () => {
      await lock.release().catch(() => undefined);
      return lock.acquire({ timeout: 1 });
    });
    await refused('a session made before', () => session.load('k'));
    await refused('a transaction made before', () => txn.commit());
    await refused('a lease made before', () => lease.revoke());
    assert.equal(await b.get('t'), null, 'nothing was written');
    await b.close();
  });
}

for (const [store, url] of stores()) {
  test(`${store}: after close() onLost of a lock or a lease throws, like lock() and txn()`, async () => {
    const a = await connect(url());
    const held = a.lock('held', { ttl: 60 });
    await held.acquire();
    const spare = a.lock('spare', { ttl: 60 });
    const lease = await a.lease(60);
    await a.close();
    await refused('lock()', () => a.lock('new'));
    await refused('txn()', () => a.txn());
    await refused('onLost of a lock held at the close', () => held.onLost(() => {}));
    await refused('onLost of an unused lock', () => spare.onLost(() => {}));
    await refused('onLost of a lease', () => lease.onLost(() => {}));
    for (const what of [() => held.onLost(() => {}), () => lease.onLost(() => {})]) {
      assert.throws(what, /the client of .* is closed/, 'thrown at once, naming the client');
    }
  });
}

test('a held lock nothing refers to stays held through garbage collections until its client closes', () => {
  // In a child with --expose-gc: the lock object is dropped unreleased and the collector runs;
  // another client still cannot take the lock, then gets it at once when the holder's client
  // closes (far below its 60 s TTL).
  const script = `
    import { connect } from 'interlock-db';
    const url = process.argv[1];
    const a = await connect(url);
    const b = await connect(url);
    await (async () => { await a.lock('collected', { ttl: 60 }).acquire(); })();
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    await new Promise((r) => setTimeout(r, 500));
    console.log('while held: ' + await b.lock('collected', { ttl: 60 }).tryAcquire());
    await a.close();
    const token = await b.lock('collected', { ttl: 60 }).acquire({ timeout: 10 });
    console.log('acquired ' + token);
    await b.close();
  `;
  for (const [store, url] of stores()) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, url()], {
      cwd: process.cwd(), encoding: 'utf8', timeout: 60_000,
    });
    assert.equal(r.status, 0, `${store}: ${r.stderr}`);
    assert.match(r.stdout, /^while held: null$/m, store);
    assert.match(r.stdout, /acquired \d+/, store);
    assert.doesNotMatch(r.stderr, /panicked/, store);
  }
});

test('a lease nothing refers to stays alive through garbage collections until revoked or closed', () => {
  // In a child with --expose-gc: a key is written on a lease whose object is dropped at once; the
  // collector runs; the key stays (the lease is kept alive), then goes when the client closes.
  const script = `
    import { connect } from 'interlock-db';
    const url = process.argv[1];
    const a = await connect(url);
    const b = await connect(url);
    await (async () => { await a.set('presence/me', 'here', { lease: await a.lease(3) }); })();
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
    await new Promise((r) => setTimeout(r, 4000));
    console.log('after the TTL: ' + (await b.get('presence/me'))?.value);
    await a.close();
    console.log('after close: ' + (await b.get('presence/me'))?.value);
    await b.close();
  `;
  for (const [store, url] of stores()) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, url()], {
      cwd: process.cwd(), encoding: 'utf8', timeout: 60_000,
    });
    assert.equal(r.status, 0, `${store}: ${r.stderr}`);
    assert.match(r.stdout, /^after the TTL: here$/m, store);
    assert.match(r.stdout, /^after close: undefined$/m, store);
    assert.doesNotMatch(r.stderr, /panicked/, store);
  }
});
