// The bad-input table: every case is an InvalidArgumentError (or the named kind) with a message
// naming what was wrong, and nothing is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, InvalidArgumentError, LeaseExpiredError } from 'interlock-db';
import { stores } from './stores.mjs';

const cycle = {};
cycle.self = cycle;

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
];

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
}
