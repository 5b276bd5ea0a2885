// Every operation (docs/design.md, Operations to Locks) through the package as installed, on each
// store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect, ConcurrencyError, InterlockError, LockLostError, LockTimeoutError,
} from 'interlock-db';
import { stores, within } from './stores.mjs';

for (const [name, url] of stores()) {
  test(`${name}: put is a compare-exchange that reports the current entry`, async () => {
    const db = await connect(url());
    const created = await db.put('emails/a@b.c', 'users/1', 0);
    assert.equal(created.successful, true);
    assert.equal(created.value, 'users/1');
    const dup = await db.put('emails/a@b.c', 'users/2', 0);
    assert.deepEqual(dup, { successful: false, index: created.index, value: 'users/1' });
    const replaced = await db.put('emails/a@b.c', 'users/3', created.index);
    assert.equal(replaced.successful, true);
    assert.ok(replaced.index > created.index);
    assert.deepEqual(await db.get('emails/a@b.c'), { key: 'emails/a@b.c', value: 'users/3', index: replaced.index });
    assert.equal(await db.get('missing'), null);
    await db.close();
  });

  test(`${name}: set, delete, getMany and list`, async () => {
    const db = await connect(url());
    const i1 = await db.set('docs/1', { title: 'one', tags: ['a'], n: 1.5 });
    const i2 = await db.set('docs/2', { title: 'two' });
    assert.ok(i2 > i1);
    assert.equal(await db.index(), i2);
    const many = await db.getMany(['docs/2', 'nope', 'docs/1']);
    assert.deepEqual(many.map((e) => e.key), ['docs/2', 'docs/1']);
    assert.deepEqual(many[1].value, { title: 'one', tags: ['a'], n: 1.5 });
    const page = await db.list('docs/', { limit: 1 });
    assert.deepEqual(page.entries.map((e) => e.key), ['docs/1']);
    assert.equal(page.more, true);
    const rest = await db.list('docs/', { after: 'docs/1' });
    assert.deepEqual(rest.entries.map((e) => e.key), ['docs/2']);
    assert.equal(rest.more, false);
    const stale = await db.delete('docs/1', { index: i1 - 1 });
    assert.deepEqual(stale, { successful: false, index: i1, value: { title: 'one', tags: ['a'], n: 1.5 } });
    assert.equal((await db.delete('docs/1', { index: i1 })).successful, true);
    assert.equal((await db.delete('docs/2')).successful, true);
    assert.deepEqual((await db.list('docs/')).entries, []);
    await db.close();
  });

  test(`${name}: a transaction commits all at one index or lists every failed check`, async () => {
    const db = await connect(url());
    const a = await db.set('acct/a', { funds: 10 });
    const b = await db.set('acct/b', { funds: 0 });
    const index = await db.txn()
      .put('acct/a', { funds: 0 }, a)
      .put('acct/b', { funds: 10 }, b)
      .commit();
    assert.equal((await db.get('acct/a')).index, index);
    assert.equal((await db.get('acct/b')).index, index);
    await assert.rejects(
      db.txn().check('acct/a', a).put('acct/b', { funds: 99 }, b).set('acct/c', 1).commit(),
      (e) => {
        assert.ok(e instanceof ConcurrencyError && e instanceof InterlockError);
        assert.equal(e.code, 'ERR_CONCURRENCY');
        assert.deepEqual(
          e.conflicts.map((c) => [c.key, c.expected, c.actual]).sort(),
          [['acct/a', a, index], ['acct/b', b, index]],
        );
        return true;
      },
    );
    assert.deepEqual((await db.get('acct/b')).value, { funds: 10 }, 'nothing written');
    assert.equal(await db.get('acct/c'), null, 'nothing written');
    await db.close();
  });

  test(`${name}: retry re-runs a read-compute-commit that lost a race`, async () => {
    const db = await connect(url());
    await db.set('counter', 0);
    let runs = 0;
    const bump = () => db.retry(async () => {
      runs++;
      const e = await db.get('counter');
      await db.txn().put('counter', e.value + 1, e.index).commit();
    }, { attempts: 50 });
    await Promise.all(Array.from({ length: 8 }, bump));
    assert.equal((await db.get('counter')).value, 8, 'no lost update');
    assert.ok(runs >= 8);
    await db.close();
  });

  test(`${name}: watch is an async iterator in index order, resumable`, async () => {
    const db = await connect(url());
    const start = (await db.index()) + 1;
    const seen = [];
    const watcher = (async () => {
      for await (const ev of db.watch('jobs/')) {
        seen.push(ev);
        if (seen.length === 3) break;
      }
    })();
    // The watch starts from the next index; wait until it is open by writing until seen.
    await new Promise((r) => setTimeout(r, 100));
    const i1 = await db.set('jobs/1', { state: 'new' });
    await db.set('other/x', 1);
    const i2 = await db.set('jobs/1', { state: 'done' });
    const i3 = (await db.delete('jobs/1')).index;
    await watcher;
    assert.deepEqual(seen, [
      { type: 'put', key: 'jobs/1', value: { state: 'new' }, index: i1 },
      { type: 'put', key: 'jobs/1', value: { state: 'done' }, index: i2 },
      { type: 'delete', key: 'jobs/1', value: null, index: i3 },
    ]);
    const replay = [];
    for await (const ev of db.watch('jobs/', { fromIndex: start })) {
      replay.push(ev.index);
      if (replay.length === 3) break;
    }
    assert.deepEqual(replay, [i1, i2, i3]);
    await db.close();
  });

  test(`${name}: a revoked lease deletes its entries; leases report loss`, async () => {
    const db = await connect(url());
    const lease = await db.lease(5);
    assert.equal(typeof lease.id, 'bigint');
    assert.equal(lease.ttl >= 5, true);
    await db.set('sessions/1', 'alive', { lease });
    assert.equal((await db.get('sessions/1')).lease, lease.id);
    // The callback and the promise are delivered independently, in either order: wait for both.
    const called = new Promise((resolve) => lease.onLost(() => resolve(true)));
    assert.equal(await lease.revoke(), true);
    await within(lease.waitLost(), 'the lease loss');
    assert.equal(lease.lost, true);
    assert.equal(await within(called, 'the lost callback'), true);
    assert.equal(await db.get('sessions/1'), null);
    assert.equal(await db.timeToLive(lease.id), null);
    const raw = await db.grant(3);
    assert.ok((await db.timeToLive(raw)) > 0);
    assert.ok((await db.keepalive(raw)) >= 3);
    assert.equal(await db.revoke(raw), true);
    assert.equal(await db.revoke(raw), false);
    await db.close();
  });

  test(`${name}: locks grant in arrival order with increasing fencing tokens`, async () => {
    const db = await connect(url());
    const holder = db.lock('printer/first-floor', { ttl: 10, owner: 'test holder' });
    const first = await holder.acquire();
    assert.equal(holder.fencingToken, first);
    assert.equal(holder.held, true);
    const queue = await db.lockQueue('printer/first-floor');
    assert.equal(queue.length, 1);
    assert.equal(queue[0].holder, true);
    assert.equal(queue[0].token, first);
    assert.equal(queue[0].owner.owner, 'test holder');
    assert.equal(await db.lock('printer/first-floor').tryAcquire(), null);
    const order = [];
    const waiters = [];
    for (let i = 0; i < 3; i++) {
      const lock = db.lock('printer/first-floor', { ttl: 10 });
      waiters.push(lock.acquire({ timeout: 30 }).then(async (token) => {
        order.push([i, token]);
        await lock.release();
      }));
      while ((await db.lockQueue('printer/first-floor')).length < i + 2) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await holder.release();
    await Promise.all(waiters);
    assert.deepEqual(order.map((o) => o[0]), [0, 1, 2]);
    let last = first;
    for (const [, token] of order) {
      assert.ok(token > last, `tokens increase: ${token} > ${last}`);
      last = token;
    }
    await assert.rejects(holder.release(), { code: 'ERR_INVALID_ARGUMENT' });
    await db.close();
  });

  test(`${name}: withLock runs the callback holding the lock and releases on throw`, async () => {
    const db = await connect(url());
    const token = await db.withLock('reports', { ttl: 10 }, async (held) => {
      assert.equal(held.held, true);
      assert.equal((await db.lockQueue('reports'))[0].token, held.fencingToken);
      return held.fencingToken;
    });
    assert.equal(typeof token, 'number');
    assert.deepEqual(await db.lockQueue('reports'), []);
    await assert.rejects(db.withLock('reports', {}, () => { throw new Error('boom'); }), /boom/);
    assert.deepEqual(await db.lockQueue('reports'), [], 'released after a throw');
    const holder = db.lock('reports');
    await holder.acquire();
    await assert.rejects(db.withLock('reports', { timeout: 0.1 }, () => 1), (e) => {
      assert.ok(e instanceof LockTimeoutError);
      assert.equal(e.code, 'ERR_LOCK_TIMEOUT');
      return true;
    });
    assert.equal((await db.lockQueue('reports')).length, 1, 'the timed-out waiter is removed');
    await holder.release();
    await db.close();
  });

  test(`${name}: a fenced write commits while the lock is held and fails once it is lost`, async () => {
    const db = await connect(url());
    const lease = await db.lease(5);
    const lock = db.lock('guarded', { lease });
    const token = await lock.acquire();
    await db.txn().require(lock).set('guarded/data', { by: token }).commit();
    // The callback and the promise are delivered independently, in either order: wait for both.
    const fired = new Promise((resolve) => lock.onLost(() => resolve(true)));
    await lease.revoke();
    await within(lock.waitLost(), 'the lock loss');
    assert.equal(await within(fired, 'the lost callback'), true);
    assert.equal(lock.lost, true);
    await assert.rejects(db.txn().require(lock).set('guarded/data', { by: 'stale' }).commit(), (e) => {
      assert.ok(e instanceof LockLostError);
      assert.equal(e.code, 'ERR_LOCK_LOST');
      return true;
    });
    assert.deepEqual((await db.get('guarded/data')).value, { by: token });
    await assert.rejects(lock.release(), { code: 'ERR_LOCK_LOST' });
    await db.close();
  });

  test(`${name}: sessions save tracked changes and detect concurrent edits`, async () => {
    const db = await connect(url());
    await db.set('accounts/1', { funds: 50 });
    await db.set('accounts/2', { funds: 0 });
    const s = db.session();
    const src = await s.load('accounts/1');
    const dst = await s.load('accounts/2');
    assert.equal(await s.load('accounts/1'), src, 'loading again returns the same object');
    src.funds -= 10;
    dst.funds += 10;
    s.store('audit/1', { moved: 10 });
    assert.equal(s.hasChanges, true);
    const index = await s.saveChanges();
    assert.deepEqual((await db.get('accounts/2')).value, { funds: 10 });
    assert.equal((await db.get('audit/1')).index, index);
    assert.equal(await s.saveChanges(), null, 'nothing more to save');

    const mine = db.session();
    const theirs = db.session();
    const a = await mine.load('accounts/1');
    const b = await theirs.load('accounts/1');
    a.funds = 1;
    b.funds = 2;
    await theirs.saveChanges();
    await assert.rejects(mine.saveChanges(), (e) => {
      assert.ok(e instanceof ConcurrencyError);
      assert.equal(e.conflicts[0].key, 'accounts/1');
      assert.equal(e.conflicts[0].expected, mine.loadedIndex('accounts/1'));
      return true;
    });
    assert.deepEqual((await db.get('accounts/1')).value, { funds: 2 }, 'the second writer did not overwrite');
    const lww = db.session({ optimistic: false });
    lww.store('accounts/1', { funds: 3 });
    await lww.saveChanges();
    assert.deepEqual((await db.get('accounts/1')).value, { funds: 3 });
    await db.close();
  });
}
