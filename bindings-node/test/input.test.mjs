// The bad-input table: every case is an InvalidArgumentError (or the named kind) with a message
// naming what was wrong, and nothing is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, InvalidArgumentError, LeaseExpiredError } from 'interlock-db';
import { stores } from './stores.mjs';

const cycle = {};
cycle.self = cycle;

/** `levels` arrays and objects nested in each other around 1. */
function nested(levels) {
  let v = 1;
  for (let i = 0; i < levels; i++) v = i % 2 ? { k: v } : [v];
  return v;
}

const cases = [
  ['an empty key', (db) => db.set('', 1), /key/],
  ['a reserved key', (db) => db.set('@lock/x', 1), /reserved/],
  ['a key with a NUL', (db) => db.set('a\u0000b', 1), /control/],
  ['an oversize key', (db) => db.set('k'.repeat(513), 1), /512/],
  ['an oversize value', (db) => db.set('big', 'x'.repeat(1024 * 1024 + 1)), /big/],
  ['undefined', (db) => db.set('v', undefined), /undefined/],
  ['NaN', (db) => db.set('v', { n: NaN }), /\$\.n: NaN/],
  ['Infinity', (db) => db.set('v', [1, Infinity]), /\$\[1\]: Infinity/],
  ['a function', (db) => db.set('v', { f() {} }), /function is not JSON/],
  ['a BigInt', (db) => db.set('v', 10n), /bigint is not JSON/],
  ['a symbol', (db) => db.set('v', Symbol('s')), /symbol is not JSON/],
  ['a Date', (db) => db.set('v', { at: new Date() }), /Date is not JSON/],
  ['a Map', (db) => db.set('v', new Map()), /Map is not JSON/],
  ['a cycle', (db) => db.set('v', cycle), /cycle/],
  ['a value nested 101 deep', (db) => db.set('v', nested(101)), /nested more than 100 levels deep, the limit/],
  ['a value nested 128 deep', (db) => db.set('v', nested(128)), /nested more than 100 levels deep, the limit/],
  ['a negative index', (db) => db.put('v', 1, -1), /index/],
  ['a fractional index', (db) => db.put('v', 1, 1.5), /index/],
  ['an index above 2^53', (db) => db.put('v', 1, 2 ** 53), /2\^53/],
  ['a string index', (db) => db.put('v', 1, '3'), /index|convert/],
  ['a txn with 129 ops', (db) => {
    const t = db.txn();
    for (let i = 0; i < 129; i++) t.set(`t/${i}`, i);
    return t.commit();
  }, /128/],
  ['a txn writing one key twice', (db) => db.txn().set('t/1', 1).set('t/1', 2).commit(), /t\/1/],
  ['a TTL below one second', (db) => db.lease(0.5), /ttl|TTL/],
  ['a negative TTL', (db) => db.lock('x', { ttl: -1 }).acquire(), /ttl/],
  ['a negative timeout', (db) => db.lock('x').acquire({ timeout: -1 }), /timeout/],
  ['a string timeout', (db) => db.lock('x').acquire({ timeout: 'soon' }), /timeout/],
  ['a non-string URL', () => connect(42), /URL/],
  ['an unknown URL scheme', () => connect('ftp://x'), /ftp/],
  ['a bad lease id', (db) => db.set('v', 1, { lease: 'not-a-lease' }), /lease/],
  ['a number as the key of a session load', (db) => db.session().load(42), /the key of load must be a string, not 42 \(number\)/],
  ['a string as the keys of a session loadMany', (db) => db.session().loadMany('abc'),
    /the keys of loadMany must be an array of strings, not the string 'abc'/],
  ['a number in the keys of a session loadMany', (db) => db.session().loadMany(['a', 7]), /keys\[1\] of loadMany must be a string, not 7/],
  ['a number as the key of a session store', (db) => db.session().store(5, 1), /the key of store must be a string, not 5/],
  ['a null putCompareExchange index', (db) => saveWith(db, (s) => s.putCompareExchange('cx', 1, null)),
    /the index of putCompareExchange 'cx' must be an integer from 0 to 2\^53 - 1, not null/],
  ["a '0' putCompareExchange index", (db) => saveWith(db, (s) => s.putCompareExchange('cx', 1, '0')),
    /the index of putCompareExchange 'cx' must be .*, not the string '0'/],
  ['a true putCompareExchange index', (db) => saveWith(db, (s) => s.putCompareExchange('cx', 1, true)),
    /the index of putCompareExchange 'cx' must be .*, not true \(boolean\)/],
  ['a negative bigint putCompareExchange index', (db) => saveWith(db, (s) => s.putCompareExchange('cx', 1, -1n)),
    /the index of putCompareExchange 'cx' must be .*, not -1n/],
  ['a null deleteCompareExchange index', (db) => saveWith(db, (s) => s.deleteCompareExchange('cx', null)),
    /the index of deleteCompareExchange 'cx' must be .*, not null/],
  ['a number as the callback of a lock onLost', (db) => db.lock('x').onLost(5), /the callback of onLost must be a function, not 5 \(number\)/],
  ['undefined in an object', (db) => db.set('v', { a: undefined }), /at \$\.a: undefined is not JSON/],
  ['a Map, with its conversion', (db) => db.set('v', { m: new Map() }), /\$\.m: a Map is not JSON \(.*Object\.fromEntries/],
  ['an object as the owner of a lock', (db) => db.lock('x', { owner: { team: 'a' } }),
    /the owner option of lock 'x' must be a string, not the object \{"team":"a"\}$/],
  ['a getMany of 1001 keys', (db) => db.getMany(Array.from({ length: 1001 }, (_, i) => `many/${i}`)),
    /1001 keys is too many: at most 1000 keys/],
];

/** Stages an op with `stage` on a new session, then saves it. */
async function saveWith(db, stage) {
  const s = db.session();
  stage(s);
  return s.saveChanges();
}

for (const [store, url] of stores()) {
  for (const [what, run, message] of cases) {
    test(`${store}: ${what} is refused with a clear error and writes nothing`, async () => {
      const db = await connect(url());
      const before = await db.index();
      await assert.rejects(async () => run(db), (e) => {
        assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
        assert.equal(e.code, 'ERR_INVALID_ARGUMENT');
        assert.match(e.message, message);
        return true;
      });
      assert.equal(await db.index(), before, 'nothing written');
      await db.close();
    });
  }

  test(`${store}: a value nested 100 deep, the limit, is stored and read back`, async () => {
    const db = await connect(url());
    await db.set('deep', nested(100));
    assert.deepEqual((await db.get('deep')).value, nested(100));
    assert.deepEqual((await db.list('dee')).entries.map((e) => e.key), ['deep']);
    await db.close();
  });

  test(`${store}: no message shows [object Object] or 'a undefined'`, async () => {
    const db = await connect(url());
    const messages = [];
    for (const run of [() => db.lock('x', { owner: { a: 1 } }), () => db.set('v', [undefined]),
      () => db.lock('x', { owner: new Map() }), () => db.session().load({})]) {
      await assert.rejects(async () => run(), (e) => {
        assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
        messages.push(e.message);
        return true;
      });
    }
    for (const m of messages) {
      assert.doesNotMatch(m, /\[object Object\]|a undefined/, m);
    }
    assert.match(messages[2], /not a Map$/);
    await db.close();
  });

  test(`${store}: a session takes a bigint index for putCompareExchange`, async () => {
    const db = await connect(url());
    const { index } = await db.put('cx', 1, 0);
    const s = db.session();
    s.putCompareExchange('cx', 2, BigInt(index));
    assert.equal(typeof (await s.saveChanges()), 'number');
    assert.equal((await db.get('cx')).value, 2);
    await db.close();
  });

  test(`${store}: a lease refuses a callback that is not a function`, async () => {
    const db = await connect(url());
    const lease = await db.lease(5);
    assert.throws(() => lease.onLost('later'), (e) => {
      assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
      assert.match(e.message, /the callback of onLost must be a function, not the string 'later'/);
      return true;
    });
    await db.close();
  });

  test(`${store}: getMany and loadMany take 1000 keys`, async () => {
    const db = await connect(url());
    await db.set('many/7', 7);
    const keys = Array.from({ length: 1000 }, (_, i) => `many/${i}`);
    assert.deepEqual((await db.getMany(keys)).map((e) => e.value), [7]);
    const loaded = await db.session().loadMany(keys);
    assert.equal(loaded.get('many/7'), 7);
    await assert.rejects(db.session().loadMany([...keys, 'many/1000']), /at most 1000 keys/);
    await db.close();
  });

  test(`${store}: an unknown lease is ERR_LEASE_EXPIRED and writes nothing`, async () => {
    const db = await connect(url());
    const before = await db.index();
    await assert.rejects(db.set('v', 1, { lease: 987654321n }), (e) => {
      assert.ok(e instanceof LeaseExpiredError, `${e?.name}: ${e?.message}`);
      assert.equal(e.code, 'ERR_LEASE_EXPIRED');
      assert.match(e.message, /987654321/);
      return true;
    });
    assert.equal(await db.get('v'), null);
    assert.equal(await db.index(), before);
    await db.close();
  });

  test(`${store}: a transaction commits once; a second commit or a later step is refused`, async () => {
    const db = await connect(url());
    const txn = db.txn().set('once/a', 1);
    const index = await txn.commit();
    for (const run of [() => txn.commit(), () => txn.set('once/b', 2), () => txn.check('once/a', index)]) {
      await assert.rejects(async () => run(), (e) => {
        assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
        assert.match(e.message, /committed already; make a new one with client\.txn\(\)/);
        return true;
      });
    }
    assert.equal(await db.index(), index, 'nothing written again');
    assert.equal(await db.get('once/b'), null);
    await db.close();
  });
}
