// The names and behaviours every interlock package shares (docs/vocabulary.md), as the Node
// package has them: put always a compare-exchange and set the unconditional write, lease ids as
// bigints, `lost` a boolean with waitLost(), connect refusing unknown options, retry by the
// core's rule and schedule, no exported internals, watches that start when made, and messages
// that name the argument and the rule without the native layer's words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from 'interlock-db';
import { connect, ConcurrencyError, InvalidArgumentError } from 'interlock-db';
import { stores, within } from './stores.mjs';

const require = createRequire(import.meta.url);

function invalid(pattern) {
  return (e) => {
    assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
    assert.equal(e.kind, 'InvalidArgument');
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /rust|napi|serde|pyo3|wasm-bindgen|String`|u32|f64/i);
    return true;
  };
}

test('the internals fromNative, call and callSync are not exported', () => {
  const cjs = require('interlock-db');
  for (const name of ['fromNative', 'call', 'callSync']) {
    assert.equal(name in esm, false, `ESM exports ${name}`);
    assert.equal(name in cjs, false, `CommonJS exports ${name}`);
  }
  assert.equal(typeof esm.Watch, 'function', 'the Watch class is exported');
});

test('connect refuses an unknown option, naming it', async () => {
  await assert.rejects(connect('mem://', { tokn: 'x' }), invalid(/unknown option 'tokn' of connect \(known: token\)/));
  await assert.rejects(connect('mem://', { token: 42 }), invalid(/token option of connect must be a string, not 42/));
  await assert.rejects(connect('sqlite:///x.db?bogus=1'), /bogus/);
});

for (const [store, url] of stores()) {
  test(`${store}: put needs an index; set writes unconditionally, on the client and in a txn`, async () => {
    const db = await connect(url());
    await assert.rejects(db.put('k', 1), invalid(/index of put 'k' \(required: 0 creates only if absent; set\(\) writes unconditionally\) must be an integer/));
    await assert.rejects(db.put('k', 1, { index: 0 }), invalid(/index of put 'k'.* not \[object Object\]|index of put 'k'/));
    const first = await db.set('k', 1);
    assert.ok((await db.set('k', 2)) > first, 'set overwrites');
    const r = await db.put('k', 3, 0);
    assert.equal(r.successful, false, 'put at 0 of an existing key fails');
    assert.equal((await db.put('k', 3, r.index)).successful, true);
    assert.throws(() => db.txn().put('j', 1), invalid(/index of put 'j'/));
    const index = await db.txn().set('j', 1).put('k', 4, (await db.get('k')).index).commit();
    assert.equal((await db.get('j')).index, index);
    await assert.rejects(db.txn().put('j', 2, 0).commit(), ConcurrencyError);
    await assert.rejects(db.set('k', 1, { index: 3 }), invalid(/unknown option 'index' of set 'k'/));
    await db.close();
  });

  test(`${store}: lease ids are bigints`, async () => {
    const db = await connect(url());
    const lease = await db.lease(5);
    assert.equal(typeof lease.id, 'bigint');
    assert.ok(lease.id > 0n);
    await db.set('leased', 1, { lease });
    assert.equal((await db.get('leased')).lease, lease.id);
    const granted = await db.grant(5);
    assert.equal(typeof granted, 'bigint');
    await db.set('granted', 1, { lease: granted });
    assert.equal((await db.get('granted')).lease, granted);
    assert.ok((await db.timeToLive(granted)) > 0);
    assert.ok((await db.keepalive(lease)) >= 5, 'a Lease is a lease argument too');
    assert.throws(() => db.revoke(String(granted)), invalid(/lease of revoke must be a Lease or a lease id \(a bigint, e\.g\. 7n\), not the string/));
    assert.throws(() => db.revoke(Number(granted)), invalid(/lease of revoke must be a Lease or a lease id/));
    assert.throws(() => db.revoke(0n), invalid(/lease of revoke 0 is out of range: a lease id is an integer from 1 to 2\^63 - 1/));
    assert.throws(() => db.revoke(2n ** 63n), invalid(/out of range/));
    assert.equal(await db.revoke(granted), true);
    await db.close();
  });

  test(`${store}: lease.lost is a boolean and waitLost resolves to true, or false after a timeout`, async () => {
    const db = await connect(url());
    const lease = await db.lease(5);
    assert.equal(lease.lost, false);
    assert.equal(await lease.waitLost({ timeout: 0.05 }), false);
    const waiting = lease.waitLost();
    await lease.revoke();
    assert.equal(await within(waiting, 'lease.waitLost()'), true);
    assert.equal(lease.lost, true);
    assert.equal(await lease.waitLost({ timeout: 0 }), true);
    await assert.rejects(async () => lease.waitLost({ timeout: -1 }), invalid(/timeout must be a non-negative number of seconds, not -1/));
    await assert.rejects(async () => lease.waitLost({ timout: 1 }), invalid(/unknown option 'timout'/));
    await db.close();
  });

  test(`${store}: retry takes attempts by the core's rule and re-runs only conflicts`, async () => {
    const db = await connect(url());
    for (const attempts of [0, -1, 1.5, Infinity]) {
      let calls = 0;
      await assert.rejects(db.retry(() => { calls++; }, { attempts }),
        invalid(new RegExp(`attempts of retry must be an integer from 1 to 1000000, not ${attempts}`)));
      assert.equal(calls, 0, `attempts ${attempts}: fn never ran`);
    }
    await assert.rejects(db.retry(() => 1, { attempts: '3' }), invalid(/attempts of retry must be an integer from 1 to 1000000, not the string '3'/));
    await assert.rejects(db.retry(() => 1, { attemps: 3 }), invalid(/unknown option 'attemps' of retry/));
    let calls = 0;
    await assert.rejects(db.retry(async () => { calls++; await db.txn().check('never', 5).commit(); }, { attempts: 1 }), ConcurrencyError);
    assert.equal(calls, 1, 'one attempt runs once');
    calls = 0;
    await assert.rejects(db.retry(async () => { calls++; await db.txn().check('never', 5).commit(); }, { attempts: 3 }), ConcurrencyError);
    assert.equal(calls, 3);
    assert.equal(await db.retry(() => 'done'), 'done');
    await db.close();
  });

  test(`${store}: a watch starts when it is made: a write before the first next() is seen`, async () => {
    const db = await connect(url());
    const watch = db.watch('made/');
    const index = await db.set('made/1', 'x');
    const txnIndex = await db.txn().set('made/2', 'y').commit();
    const seen = [];
    for await (const e of watch) {
      seen.push([e.key, e.index]);
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen, [['made/1', index], ['made/2', txnIndex]]);
    const closing = db.watch('closing/');
    closing.close();
    assert.deepEqual(await closing.next(), { done: true, value: undefined });
    await db.close();
  });

  test(`${store}: tryAcquire, queue and the lock's lost and waitLost`, async () => {
    const db = await connect(url());
    const lock = db.lock('vocab', { ttl: 5 });
    const token = await lock.tryAcquire();
    assert.equal(typeof token, 'number');
    assert.deepEqual((await lock.queue()).map((w) => w.token), [token]);
    assert.equal(typeof (await lock.queue())[0].lease, 'bigint');
    assert.equal(lock.lost, false);
    assert.equal(await lock.waitLost({ timeout: 0.01 }), false);
    assert.equal(await db.lock('vocab', { ttl: 5 }).tryAcquire(), null);
    await lock.release();
    await assert.rejects(lock.waitLost(), invalid(/not held/));
    await db.close();
  });

  test(`${store}: messages name the argument and the rule, never the native layer`, async () => {
    const db = await connect(url());
    await assert.rejects(db.get(42), invalid(/the key of get must be a string, not 42 \(number\)/));
    await assert.rejects(db.getMany(['a', 7]), invalid(/keys\[1\] of getMany must be a string/));
    await assert.rejects(db.delete('k', { index: 'x' }), invalid(/index option of delete 'k' must be an integer/));
    await assert.rejects(db.list('p/', { limit: -1 }), invalid(/limit option of list must be an integer/));
    assert.throws(() => db.watch('p/', { fromIndex: 1.5 }), invalid(/fromIndex option of watch must be an integer/));
    assert.throws(() => db.lock('short', { ttl: 0.5 }), invalid(/ttl 0\.5 s is too short: a lease TTL is at least 1 s/));
    await assert.rejects(db.lease(0), invalid(/ttl 0 s is too short/));
    assert.throws(() => db.txn().check(5, 1), invalid(/the key of check must be a string, not 5 \(number\)/));
    assert.throws(() => db.session({ optimistc: false }), invalid(/unknown option 'optimistc' of session/));
    await db.close();
  });
}
