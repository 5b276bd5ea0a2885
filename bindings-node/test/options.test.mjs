// Duration options (ttl, timeout) and option names: a bad value is an InvalidArgumentError
// naming the option, never an internal error or a panic, and a lock's options are refused when
// the lock object is made, not at its first acquire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, InvalidArgumentError } from 'interlock-db';
import { stores } from './stores.mjs';

/** Durations no option takes: huge, negative, not a number, not finite, not a number at all. */
const bad = [9.1e9, 1e19, 1e300, Number.MAX_VALUE, -1, -1e-9, NaN, -Infinity, '5', true, false, {}, [], 10n];

function invalid(option) {
  return (e) => {
    assert.ok(e instanceof InvalidArgumentError, `${String(e?.name)}: ${e?.message}`);
    assert.equal(e.code, 'ERR_INVALID_ARGUMENT');
    assert.match(e.message, option);
    assert.doesNotMatch(e.message, /panicked/);
    return true;
  };
}

function show(value) {
  return typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
}

for (const [store, url] of stores()) {
  test(`${store}: a bad ttl throws at db.lock(), a bad timeout at acquire(), naming the option`, async () => {
    const db = await connect(url());
    const before = await db.index();
    for (const value of [...bad, Infinity, 0, 0.5]) {
      assert.throws(() => db.lock('x', { ttl: value }), invalid(/ttl|TTL/), `ttl ${show(value)}`);
      await assert.rejects(db.withLock('x', { ttl: value }, () => 1), invalid(/ttl|TTL/), `withLock ttl ${show(value)}`);
      await assert.rejects(db.lease(value), invalid(/ttl|TTL/), `lease ttl ${show(value)}`);
      await assert.rejects(async () => db.grant(value), invalid(/ttl|TTL/), `grant ttl ${show(value)}`);
    }
    const lock = db.lock('x', { ttl: 5 });
    for (const value of bad) {
      await assert.rejects(lock.acquire({ timeout: value }), invalid(/timeout/), `timeout ${show(value)}`);
      await assert.rejects(db.withLock('x', { timeout: value }, () => 1), invalid(/timeout/), `withLock timeout ${show(value)}`);
    }
    assert.equal(lock.held, false);
    assert.deepEqual(await db.lockQueue('x'), [], 'no waiter was left behind');
    assert.equal(await db.index(), before, 'nothing written');
    // Infinity, as documented, is no limit; so is null.
    assert.equal(typeof (await lock.acquire({ timeout: Infinity })), 'number');
    await lock.release();
    assert.equal(typeof (await lock.acquire({ timeout: null })), 'number');
    await lock.release();
    await db.close();
  });

  test(`${store}: misspelt or misplaced options are refused, naming them`, async () => {
    const db = await connect(url());
    assert.throws(() => db.lock('x', { tll: 5 }), invalid(/unknown option 'tll'/));
    assert.throws(() => db.lock('x', { timeout: 5 }), invalid(/unknown option 'timeout'/));
    assert.throws(() => db.lock('x', 5), invalid(/options of lock 'x' must be an object/));
    assert.throws(() => db.lock('x', { lease: 'not-a-lease' }), invalid(/lease/));
    await assert.rejects(db.lock('x').acquire({ timout: 5 }), invalid(/unknown option 'timout'/));
    await assert.rejects(db.lock('x').acquire({ signal: 'abort' }), invalid(/signal/));
    await assert.rejects(db.withLock('x', { tll: 5 }, () => 1), invalid(/unknown option 'tll'/));
    await assert.rejects(db.withLock('x', { ttl: 5 }), invalid(/callback/));
    assert.deepEqual(await db.lockQueue('x'), [], 'nothing was acquired');
    await db.close();
  });

  test(`${store}: a lock name or owner that is not a string, or options that are an array, are refused naming them`, async () => {
    const db = await connect(url());
    for (const name of [123, undefined, null, {}, ['x'], true]) {
      assert.throws(() => db.lock(name), invalid(/^the lock name must be a string, not /), show(name));
      assert.throws(() => db.lock(name), (e) => !/rust type|Failed to convert/.test(e.message));
    }
    assert.throws(() => db.lock(123), invalid(/lock name must be a string, not 123 \(number\)$/));
    assert.throws(() => db.lock(), invalid(/lock name must be a string, not undefined \(undefined\)$/));
    for (const owner of [5, true, {}, ['me']]) {
      assert.throws(() => db.lock('x', { owner }), invalid(/^the owner option of lock 'x' must be a string, not /), show(owner));
    }
    assert.throws(() => db.lock('x', { owner: 5 }), invalid(/owner option of lock 'x' must be a string, not 5 \(number\)$/));
    await assert.rejects(db.lock('x').acquire([]), invalid(/options of acquire of lock 'x' must be an object, not an array$/));
    assert.throws(() => db.lock('x', []), invalid(/options of lock 'x' must be an object, not an array$/));
    assert.equal(db.lock('x', { owner: 'me' }).name, 'x');
    assert.deepEqual(await db.lockQueue('x'), [], 'nothing was acquired');
    await db.close();
  });
}
