// One Lock object: a second acquire while one is pending is refused at once and leaves the first
// cancellable; `lost` is a new promise for each acquisition; withLock(name, fn) and
// withLock(name, options, fn), whose callback gets an AbortSignal that aborts when the lock is
// lost: its lease revoked, a force-release through the server, or the client closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, AbortError, InvalidArgumentError, LockLostError } from 'interlock-db';
import { TOKEN, serve } from './serve.mjs';
import { sqliteUrl, stores, within } from './stores.mjs';

async function queueLength(db, name, n) {
  while ((await db.lockQueue(name)).length !== n) await new Promise((r) => setTimeout(r, 5));
}

/** Resolves with the signal's reason once it aborts. */
function aborted(signal) {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

for (const [store, url] of stores()) {
  test(`${store}: a second acquire on a waiting lock object is refused, and the first stays cancellable`, async () => {
    const db = await connect(url());
    const holder = db.lock('one', { ttl: 30 });
    const holderToken = await holder.acquire();
    const lock = db.lock('one', { ttl: 30 });
    const controller = new AbortController();
    const first = lock.acquire({ signal: controller.signal });
    await queueLength(db, 'one', 2);
    await assert.rejects(lock.acquire({ timeout: 5 }), (e) => {
      assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
      assert.match(e.message, /already .*being acquired/);
      return true;
    });
    const second = new AbortController();
    await assert.rejects(lock.acquire({ signal: second.signal }), InvalidArgumentError);
    second.abort(); // the refused acquire's signal no longer touches the first
    controller.abort();
    await assert.rejects(within(first, 'the first acquire ending on abort'), AbortError);
    for (let i = 0; (await db.lockQueue('one')).length !== 1; i++) {
      assert.ok(i < 1000, 'the aborted waiter is removed');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await db.lockQueue('one'))[0].token, holderToken);

    // cancel() ends the first too, after a refused second.
    const again = lock.acquire();
    await queueLength(db, 'one', 2);
    await assert.rejects(lock.acquire(), InvalidArgumentError);
    lock.native.cancel();
    await assert.rejects(within(again, 'the acquire ending on cancel()'));
    await holder.release();
    // Held: another acquire on it is refused (locks are not re-entrant).
    await lock.acquire({ timeout: 5 });
    await assert.rejects(lock.acquire({ timeout: 1 }), /already/);
    await lock.release();
    await db.close();
  });

  test(`${store}: lock.lost is a boolean; waitLost() resolves for each acquisition's loss`, async () => {
    const u = url();
    const db = await connect(u);
    const other = await connect(u);
    const lock = db.lock('lost', { ttl: 3 });
    assert.equal(lock.lost, false);
    await assert.rejects(lock.waitLost(), (e) => {
      assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
      assert.match(e.message, /lock 'lost' is not held/);
      return true;
    }, 'waitLost of a lock that is not held');
    await lock.acquire();
    const first = lock.waitLost();
    assert.equal(await lock.waitLost({ timeout: 0.05 }), false, 'not lost within the timeout');
    await lock.release();
    await lock.acquire();
    const second = lock.waitLost();
    let firstResolved = false;
    void first.then(() => { firstResolved = true; });
    // Another client revokes the holder's lease: the holder sees it at its next renewal.
    const lease = (await other.lockQueue('lost'))[0].lease;
    assert.equal(typeof lease, 'bigint');
    assert.equal(await other.revoke(lease), true);
    assert.equal(await within(second, 'the second acquisition\'s waitLost'), true);
    assert.equal(lock.lost, true);
    assert.equal(await lock.waitLost({ timeout: 0 }), true, 'at once once lost');
    assert.equal(firstResolved, false, 'the released first acquisition was never lost');
    await assert.rejects(lock.release(), LockLostError);
    await lock.acquire({ timeout: 10 });
    assert.equal(lock.lost, false);
    await lock.release();
    await db.close();
    await other.close();
  });

  test(`${store}: withLock(name, fn) and withLock(name, options, fn)`, async () => {
    const db = await connect(url());
    const got = await db.withLock('with', async (held, signal) => {
      assert.equal(held.held, true);
      assert.ok(signal instanceof AbortSignal);
      assert.equal(signal.aborted, false);
      assert.deepEqual((await db.lockQueue('with')).map((w) => w.token), [held.fencingToken]);
      return 'done';
    });
    assert.equal(got, 'done');
    assert.deepEqual(await db.lockQueue('with'), [], 'released');
    assert.equal(await db.withLock('with', { ttl: 5, timeout: 5 }, (held) => held.fencingToken > 0), true);
    await assert.rejects(db.withLock('with', () => { throw new Error('work failed'); }), /work failed/);
    assert.deepEqual(await db.lockQueue('with'), [], 'released after a throw');
    await db.close();
  });

  test(`${store}: withLock's signal aborts when the lease is revoked, and when the client closes`, async () => {
    const u = url();
    const db = await connect(u);
    const other = await connect(u);
    await assert.rejects(db.withLock('revoked', { ttl: 3 }, async (held, signal) => {
      const lease = (await other.lockQueue('revoked'))[0].lease;
      await other.revoke(lease);
      const reason = await within(aborted(signal), 'the signal aborting after a revoke');
      assert.ok(reason instanceof LockLostError, String(reason));
      assert.equal(held.lost, true);
    }), LockLostError, 'the release after the loss rejects');

    await assert.rejects(db.withLock('closed', { ttl: 30 }, async (held, signal) => {
      await db.close();
      await within(aborted(signal), 'the signal aborting on close()');
    }), (e) => {
      assert.ok(e instanceof LockLostError, `${e?.name}: ${e?.message}`);
      assert.match(e.message, /closed/);
      return true;
    });
    assert.deepEqual(await other.lockQueue('closed'), [], 'the closed client\'s lock is free');
    await other.close();
  });
}

test('http: withLock\'s signal aborts when the server force-releases the lock', async () => {
  const server = await serve(sqliteUrl());
  try {
    const db = await connect(server.url, { token: TOKEN });
    let taken;
    await assert.rejects(db.withLock('stuck', { ttl: 3 }, async (held, signal) => {
      const reply = await fetch(`${server.url}/v1/locks/stuck/holder?token=${held.fencingToken}`, {
        method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(reply.status, 200, await reply.text());
      taken = await db.lock('stuck', { ttl: 3 }).tryAcquire();
      await within(aborted(signal), 'the signal aborting after a force-release');
      assert.equal(held.lost, true);
    }), LockLostError);
    assert.equal(typeof taken, 'number', 'another holder took the force-released lock');
    await db.close();
  } finally {
    await server.stop();
  }
});
