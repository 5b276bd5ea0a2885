// Arguments as a caller gives them: a Lease object of another client, transaction steps checked
// at the call, strings that are not valid Unicode, null for "not given", and bigint indexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ConcurrencyError, InvalidArgumentError } from 'interlock-db';
import { sqliteUrl, stores } from './stores.mjs';

/** Asserts that `run` throws (synchronously) or rejects with an InvalidArgumentError whose
 * message matches `message`. */
async function refused(run, message) {
  await assert.rejects(async () => run(), (e) => {
    assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
    assert.equal(e.code, 'ERR_INVALID_ARGUMENT');
    assert.match(e.message, message);
    return true;
  });
}

// ---- A Lease object of another client -------------------------------------------------------

/** Two clients whose lease ids repeat each other's: two in-process stores (both number their
 * leases from the same start), and two clients of one SQLite file. */
const pairs = [
  ['mem (two stores)', async () => {
    const base = `mem://foreign-${process.pid}-${Math.random()}`;
    return [await connect(`${base}-a`), await connect(`${base}-b`)];
  }],
  ['sqlite (one file)', async () => {
    const url = sqliteUrl();
    return [await connect(url), await connect(url)];
  }],
];

const foreign = /belongs to another client: a Lease object is used only with the client that made it/;

const foreignCases = [
  ['revoke', (a, lease) => a.revoke(lease), /the lease of revoke \(Lease \d+n\) belongs to another client/],
  ['keepalive', (a, lease) => a.keepalive(lease), /the lease of keepalive \(Lease \d+n\)/],
  ['timeToLive', (a, lease) => a.timeToLive(lease), /the lease of timeToLive \(Lease \d+n\)/],
  ['set with the lease option', (a, lease) => a.set('f/set', 1, { lease }), /the lease option of set 'f\/set'/],
  ['put with the lease option', (a, lease) => a.put('f/put', 1, 0, { lease }), /the lease option of put 'f\/put'/],
  ['lock with the lease option', (a, lease) => a.lock('f/lock', { lease }), /the lease option of lock 'f\/lock'/],
  ['withLock with the lease option', (a, lease) => a.withLock('f/lock', { lease }, () => 1), /the lease option of lock 'f\/lock'/],
  ['a transaction set with the lease option', (a, lease) => a.txn().set('f/t', 1, { lease }), /the lease option of set 'f\/t'/],
  ['a transaction put with the lease option', (a, lease) => a.txn().put('f/t', 1, 0, { lease }), /the lease option of put 'f\/t'/],
];

for (const [store, open] of pairs) {
  for (const [what, run, message] of foreignCases) {
    test(`${store}: ${what} refuses another client's Lease and leaves both leases alone`, async () => {
      const [a, b] = await open();
      const mine = await a.lease(30);
      const theirs = await b.lease(30);
      const held = a.lock('f/held', { lease: mine });
      await held.acquire();
      const before = await a.index();
      await refused(() => run(a, theirs), message);
      await refused(() => run(a, theirs), foreign);
      assert.equal(await a.index(), before, 'nothing written');
      assert.equal(mine.lost, false, "the client's own lease");
      assert.equal(theirs.lost, false, "the other client's lease");
      assert.notEqual(await a.timeToLive(mine), null);
      assert.notEqual(await b.timeToLive(theirs), null);
      assert.equal(held.held && !held.lost, true, 'the lock on the own lease is still held');
      assert.deepEqual((await a.lockQueue('f/held')).map((w) => w.token), [held.fencingToken]);
      await a.close();
      await b.close();
    });
  }

  test(`${store}: a transaction refuses another client's lock in require, and still commits`, async () => {
    const [a, b] = await open();
    const theirs = b.lock('f/their-lock');
    await theirs.acquire();
    const txn = a.txn().set('f/req', 1);
    await refused(() => txn.require(theirs), /lock 'f\/their-lock' belongs to another client: a transaction requires a lock of its own client/);
    await txn.commit();
    assert.equal((await a.get('f/req')).value, 1);
    assert.equal(theirs.held, true);
    await a.close();
    await b.close();
  });

  test(`${store}: a lease id stays accepted, and a Lease by its own client`, async () => {
    const [a, b] = await open();
    const mine = await a.lease(30);
    const theirs = await b.lease(30);
    assert.ok((await a.timeToLive(mine)) > 0);
    assert.ok((await a.timeToLive(mine.id)) > 0);
    assert.ok((await b.keepalive(theirs)) > 0);
    await a.set('f/own', 1, { lease: mine });
    assert.equal((await a.get('f/own')).lease, mine.id);
    await a.txn().set('f/own-t', 1, { lease: mine.id }).commit();
    assert.equal(await a.revoke(mine), true);
    assert.equal(await a.get('f/own'), null);
    await a.close();
    await b.close();
  });
}

// ---- Transaction steps are checked at the call ---------------------------------------------

const stepCases = [
  ['set with an empty key', (t) => t.set('', 1), /key must not be empty/],
  ['set with a reserved key', (t) => t.set('@x', 1), /key '@x' is reserved/],
  ['set with a control character', (t) => t.set('a\u0000b', 1), /control character U\+0000/],
  ['set with an oversize key', (t) => t.set('k'.repeat(513), 1), /513 bytes; keys are at most 512 bytes/],
  ['set with an oversize value', (t) => t.set('big', 'x'.repeat(1024 * 1024 + 1)), /value for key 'big' is \d+ bytes serialized; the limit is \d+ bytes/],
  ['set with undefined', (t) => t.set('v', undefined), /the value for 'v' is undefined/],
  ['put with an empty key', (t) => t.put('', 1, 0), /key must not be empty/],
  ['put with a reserved key', (t) => t.put('@x', 1, 0), /key '@x' is reserved/],
  ['put with a negative index', (t) => t.put('k', 1, -1), /the index of put 'k'.* must be an integer from 0 to 2\^53 - 1, not -1/],
  ['put with NaN', (t) => t.put('k', NaN, 0), /the value for 'k' is not JSON at \$: NaN/],
  ['delete with an empty key', (t) => t.delete(''), /key must not be empty/],
  ['delete with a reserved key', (t) => t.delete('@x'), /key '@x' is reserved/],
  ['delete with a reserved key and an index', (t) => t.delete('@x', { index: 3 }), /key '@x' is reserved/],
  ['delete with a fractional index', (t) => t.delete('k', { index: 1.5 }), /the index option of delete 'k' must be an integer/],
  ['check with an empty key', (t) => t.check('', 0), /key must not be empty/],
  ['check with a control character', (t) => t.check('a\nb', 0), /control character U\+000A/],
  ['check with a negative index', (t) => t.check('k', -1), /the index of check 'k' must be an integer/],
  ['set of a key set already', (t) => t.set('step/ok', 2), /transaction writes key 'step\/ok' twice; one op per key/],
  ['check of a key at a second index', (t) => t.check('c', 0).check('c', 5), /checks key 'c' at two different indexes \(0 and 5\)/],
  ['step past the limit of 128', (t) => {
    for (let i = 0; i < 127; i++) t.check(`limit/${i}`, 0);
    return t.set('limit/over', 1);
  }, /transaction would have 129 checks and ops; the limit is 128/],
];

for (const [store, url] of stores()) {
  for (const [what, step, message] of stepCases) {
    test(`${store}: a transaction ${what} is refused at the step, which is left out`, async () => {
      const db = await connect(url());
      const txn = db.txn().set('step/ok', 1);
      assert.throws(() => step(txn), (e) => {
        assert.ok(e instanceof InvalidArgumentError, `${e?.name}: ${e?.message}`);
        assert.match(e.message, message);
        return true;
      });
      // The refused step is not part of the transaction: the rest commits.
      const index = await txn.commit();
      assert.equal((await db.get('step/ok')).index, index);
      assert.deepEqual((await db.list('')).entries.map((e) => e.key), ['step/ok']);
      await db.close();
    });
  }

  test(`${store}: a transaction may check a reserved key, as the client may read one`, async () => {
    const db = await connect(url());
    const index = await db.txn().check('@lock/none', 0).set('step/r', 1).commit();
    assert.equal((await db.get('step/r')).index, index);
    await db.close();
  });
}

// ---- Strings that are not valid Unicode -------------------------------------------------------

const lone = /is not valid Unicode: it contains a lone surrogate \(\\ud[89a-f][0-9a-f]{2} at position \d+\)/;

const unicodeCases = [
  ['get', (db) => db.get('a\uD800'), /the key of get "a\\ud800" is not valid Unicode: it contains a lone surrogate \(\\ud800 at position 1\)/],
  ['getMany', (db) => db.getMany(['ok', 'b\uDC00']), /keys\[1\] of getMany "b\\udc00"/],
  ['list prefix', (db) => db.list('p\uD800'), /the prefix of list "p\\ud800"/],
  ['list after', (db) => db.list('', { after: '\uDFFF' }), /the after option of list "\\udfff"/],
  ['put', (db) => db.put('a\uD800', 1, 0), /the key of put "a\\ud800"/],
  ['set', (db) => db.set('a\uD800', 1), /the key of set "a\\ud800"/],
  ['delete', (db) => db.delete('a\uD800'), /the key of delete "a\\ud800"/],
  ['watch', (db) => db.watch('w\uD800'), /the prefix of watch "w\\ud800"/],
  ['lock', (db) => db.lock('l\uD800'), /the lock name "l\\ud800"/],
  ['withLock', (db) => db.withLock('l\uD800', () => 1), /the lock name "l\\ud800"/],
  ['lockQueue', (db) => db.lockQueue('l\uD800'), /the lock name of lockQueue "l\\ud800"/],
  ['a lock owner', (db) => db.lock('l', { owner: 'me\uD800' }), /the owner option of lock 'l' "me\\ud800"/],
  ['a transaction set', (db) => db.txn().set('t\uD800', 1), /the key of set "t\\ud800"/],
  ['a transaction put', (db) => db.txn().put('t\uD800', 1, 0), /the key of put "t\\ud800"/],
  ['a transaction delete', (db) => db.txn().delete('t\uD800'), /the key of delete "t\\ud800"/],
  ['a transaction check', (db) => db.txn().check('t\uD800', 0), /the key of check "t\\ud800"/],
  ['a session load', (db) => db.session().load('s\uD800'), /the key of load "s\\ud800"/],
  ['a session loadMany', (db) => db.session().loadMany(['s\uD800']), /keys\[0\] of loadMany "s\\ud800"/],
  ['a session store', (db) => db.session().store('s\uD800', 1), /the key of store "s\\ud800"/],
  ['a session delete', (db) => db.session().delete('s\uD800'), /the key of delete "s\\ud800"/],
  ['a session putCompareExchange', (db) => db.session().putCompareExchange('s\uD800', 1, 0), /the key of putCompareExchange "s\\ud800"/],
  ['a string value', (db) => db.set('v', 'a\uD800'), /the value for 'v' is not JSON at \$: the string "a\\ud800" is not valid Unicode/],
  ['a string deep in a value', (db) => db.set('v', { list: ['ok', { deep: '\uDFFFx' }] }), /at \$\.list\[1\]\.deep: the string "\\udfffx"/],
  ['a member name of a value', (db) => db.set('v', { ['k\uDBFF']: 1 }), /at \$: the member name "k\\udbff" is not valid Unicode/],
  ['a value in a transaction', (db) => db.txn().set('v', ['\uD800']), /the value for 'v' is not JSON at \$\[0\]: the string "\\ud800"/],
  ['a value in a session store', (db) => db.session().store('v', '\uD800'), /the value for 'v' is not JSON at \$: the string "\\ud800"/],
  ['a connect URL', () => connect('mem://x\uD800'), /the store URL "mem:\/\/x\\ud800"/],
];

for (const [store, url] of stores()) {
  for (const [what, run, message] of unicodeCases) {
    test(`${store}: a lone surrogate in ${what} is refused and nothing is written`, async () => {
      const db = await connect(url());
      await db.set('a\uFFFD', 'replacement');
      const before = await db.index();
      await refused(() => run(db), message);
      await refused(() => run(db), lone);
      assert.equal(await db.index(), before, 'nothing written');
      assert.equal((await db.get('a\uFFFD')).value, 'replacement');
      await db.close();
    });
  }

  test(`${store}: surrogate pairs are valid Unicode, as keys and values`, async () => {
    const db = await connect(url());
    const key = 'emoji/\u{1F600}';
    await db.set(key, { ['\u{1F512}']: 'lock \u{1F512}' });
    assert.deepEqual((await db.get(key)).value, { ['\u{1F512}']: 'lock \u{1F512}' });
    assert.deepEqual((await db.list('emoji/')).entries.map((e) => e.key), [key]);
    const s = db.session();
    assert.deepEqual(await s.load(key), { ['\u{1F512}']: 'lock \u{1F512}' });
    await db.close();
  });
}

// ---- null and undefined both mean "not given" -----------------------------------------------

/** Each case runs once with `undefined` and once with `null` in place of the arguments or
 * options it leaves out, each on a fresh store; both must give the same result. */
const notGiven = [
  ['connect options', (url, x) => connect(url, x).then(async (db) => { await db.close(); return 'connected'; })],
  ['the token option of connect', (url, x) => connect(url, { token: x }).then(async (db) => { await db.close(); return 'connected'; })],
  ['the lease option of set', (url, x) => withDb(url, (db) => db.set('n/k', 1, { lease: x }))],
  ['the lease option of put', (url, x) => withDb(url, (db) => db.put('n/k', 1, 0, { lease: x }))],
  ['the options of set', (url, x) => withDb(url, (db) => db.set('n/k', 1, x))],
  ['the index option of delete', (url, x) => withDb(url, async (db) => {
    await db.set('n/k', 1);
    return db.delete('n/k', { index: x });
  })],
  ['the prefix of list', (url, x) => withDb(url, async (db) => {
    await db.set('n/k', 1);
    return db.list(x);
  })],
  ['the after and limit options of list', (url, x) => withDb(url, async (db) => {
    await db.set('n/a', 1);
    await db.set('n/b', 2);
    return db.list('n/', { after: x, limit: x });
  })],
  ['the fromIndex and signal options of watch, and its prefix', (url, x) => withDb(url, async (db) => {
    const w = db.watch(x, { fromIndex: x, signal: x });
    await db.set('n/k', 1);
    const { value } = await w.next();
    w.close();
    return value;
  })],
  ['the ttl, owner and lease options of lock, and timeout and signal of acquire', (url, x) => withDb(url, async (db) => {
    const lock = db.lock('n/lock', { ttl: x, owner: x, lease: x });
    const token = await lock.acquire({ timeout: x, signal: x });
    const [w] = await lock.queue();
    await lock.release();
    return [token, w.owner.owner, w.ttlLeft > 15 && w.ttlLeft <= 20];
  })],
  ['every option of withLock', (url, x) => withDb(url, (db) => db.withLock('n/lock',
    { ttl: x, owner: x, lease: x, timeout: x, signal: x }, (held) => held.fencingToken))],
  ['the options of withLock', (url, x) => withDb(url, (db) => db.withLock('n/lock', x, (held) => held.fencingToken))],
  ['the timeout option of waitLost', (url, x) => withDb(url, async (db) => {
    const lease = await db.lease(30);
    const lost = lease.waitLost({ timeout: x });
    const early = await Promise.race([lost, new Promise((r) => setTimeout(() => r('waiting'), 100))]);
    await lease.revoke();
    return [early, await lost];
  })],
  ['the attempts option of retry', (url, x) => withDb(url, async (db) => {
    let runs = 0;
    const result = await db.retry(() => {
      runs += 1;
      if (runs < 10) throw new ConcurrencyError('again');
      return 'done';
    }, { attempts: x });
    return [result, runs];
  })],
  ['the optimistic option of session', (url, x) => withDb(url, async (db) => {
    await db.set('n/doc', 1);
    const s = db.session({ optimistic: x });
    s.store('n/doc', 2);
    return s.saveChanges().catch((e) => e.constructor.name);
  })],
  ['the options of a transaction set and delete', (url, x) => withDb(url, async (db) => {
    await db.set('n/gone', 1);
    return db.txn().set('n/k', 1, { lease: x }).delete('n/gone', { index: x }).set('n/j', 2, x).commit();
  })],
];

async function withDb(url, f) {
  const db = await connect(url);
  try {
    return await f(db);
  } finally {
    await db.close();
  }
}

// On the stores whose indexes and lease ids start afresh with each store (an etcd prefix shares
// the cluster's index).
for (const [store, url] of stores().filter(([name]) => name !== 'etcd')) {
  for (const [what, run] of notGiven) {
    test(`${store}: null is the same as undefined for ${what}`, async () => {
      const absent = await run(url(), undefined);
      const nulled = await run(url(), null);
      assert.deepEqual(nulled, absent);
    });
  }
}

test('connect(null) and connect(undefined) connect to the default store, as connect() does', async () => {
  const saved = process.env.INTERLOCK_URL;
  process.env.INTERLOCK_URL = `mem://default-${process.pid}`;
  try {
    const dbs = [await connect(), await connect(undefined), await connect(null), await connect(null, null)];
    await dbs[0].set('d/k', 'shared');
    for (const db of dbs) {
      assert.equal(db.describe(), dbs[0].describe());
      assert.equal((await db.get('d/k')).value, 'shared');
    }
    for (const db of dbs) await db.close();
  } finally {
    if (saved === undefined) delete process.env.INTERLOCK_URL;
    else process.env.INTERLOCK_URL = saved;
  }
});

test('a required argument given as null is still refused, naming it', async () => {
  const db = await connect(`mem://required-${process.pid}`);
  await refused(() => db.get(null), /the key of get must be a string, not null/);
  await refused(() => db.put('k', 1, null), /the index of put 'k'.* must be an integer from 0 to 2\^53 - 1, not null/);
  await refused(() => db.lock(null), /the lock name must be a string, not null/);
  await refused(() => db.lease(null), /ttl must be a non-negative number of seconds, not null/);
  await db.close();
});

// ---- bigint indexes ---------------------------------------------------------------------------

for (const [store, url] of stores()) {
  test(`${store}: indexes may be bigints`, async () => {
    const db = await connect(url());
    const created = await db.put('b/k', 1, 0n);
    assert.equal(created.successful, true);
    const index = BigInt(created.index);
    assert.equal((await db.put('b/k', 2, index)).successful, true);
    assert.equal((await db.put('b/k', 3, index)).successful, false, 'a stale bigint index fails the compare');
    const current = BigInt((await db.get('b/k')).index);
    const w = db.watch('b/', { fromIndex: current });
    assert.equal((await w.next()).value.value, 2);
    w.close();
    await db.txn().check('b/k', current).put('b/t', 1, 0n).commit();
    assert.equal((await db.delete('b/k', { index: current })).successful, true);
    assert.equal(await db.get('b/k'), null);
    await db.close();
  });

  const outOfRange = [
    ['a negative bigint put index', (db) => db.put('b/k', 1, -1n),
      /the index of put 'b\/k' .* must be an integer from 0 to 2\^53 - 1, not -1n \(bigint\)/],
    ['a bigint put index of 2^53', (db) => db.put('b/k', 1, 2n ** 53n),
      /the index of put 'b\/k' .* must be an integer from 0 to 2\^53 - 1, not 9007199254740992n \(bigint\)/],
    ['a bigint put index of 2^63', (db) => db.put('b/k', 1, 2n ** 63n),
      /must be an integer from 0 to 2\^53 - 1, not 9223372036854775808n \(bigint\)/],
    ['a bigint put index of 2^64', (db) => db.put('b/k', 1, 2n ** 64n),
      /must be an integer from 0 to 2\^53 - 1, not 18446744073709551616n \(bigint\)/],
    ['a negative bigint delete index', (db) => db.delete('b/k', { index: -5n }),
      /the index option of delete 'b\/k' must be an integer from 0 to 2\^53 - 1, not -5n \(bigint\)/],
    ['a bigint check index of 2^53', (db) => db.txn().check('b/k', 2n ** 53n),
      /the index of check 'b\/k' must be an integer from 0 to 2\^53 - 1, not 9007199254740992n \(bigint\)/],
    ['a bigint transaction put index of 2^63', (db) => db.txn().put('b/k', 1, 2n ** 63n),
      /the index of put 'b\/k' .* must be an integer from 0 to 2\^53 - 1, not 9223372036854775808n/],
    ['a negative bigint fromIndex', (db) => db.watch('b/', { fromIndex: -1n }),
      /the fromIndex option of watch must be an integer from 0 to 2\^53 - 1, not -1n \(bigint\)/],
    ['a bigint session deleteCompareExchange index of 2^64', (db) => db.session().deleteCompareExchange('b/k', 2n ** 64n),
      /the index of deleteCompareExchange 'b\/k' must be an integer from 0 to 2\^53 - 1, not 18446744073709551616n/],
  ];
  for (const [what, run, message] of outOfRange) {
    test(`${store}: ${what} is refused, naming the argument, the value and the rule`, async () => {
      const db = await connect(url());
      await db.set('b/k', 0);
      const before = await db.index();
      await refused(() => run(db), message);
      assert.equal(await db.index(), before, 'nothing written');
      await db.close();
    });
  }
}

// ---- What a break-it review found ------------------------------------------------------------

for (const [store, url] of stores()) {
  test(`${store}: a closed client's transactions and sessions refuse their steps at the call`, async () => {
    const db = await connect(url());
    const tx = db.txn().set('closed/a', 1);
    const s = db.session();
    await db.close();
    const closed = /the client of .* is closed/;
    for (const step of [() => tx.set('closed/b', 1), () => tx.check('closed/q', 0), () => tx.delete('closed/a'),
      () => s.store('closed/z', 1), () => s.delete('closed/z'), () => s.putCompareExchange('closed/c', 1, 0),
      () => s.deleteCompareExchange('closed/c', 1), () => s.loadedIndex('closed/z'), () => s.hasChanges]) {
      assert.throws(step, (e) => e instanceof InvalidArgumentError && closed.test(e.message));
    }
    await refused(() => tx.commit(), closed);
  });

  test(`${store}: an object made with a Lease's or Lock's prototype is not one`, async () => {
    const { Lease, Lock } = await import('interlock-db');
    const db = await connect(url());
    const fake = Object.create(Lease.prototype);
    await refused(() => db.revoke(fake), /the lease of revoke must be a Lease or a lease id/);
    await refused(() => db.put('k', 1, 0, { lease: fake }), /must be a Lease or a lease id/);
    await refused(() => db.lock('L', { lease: fake }), /lease/);
    await refused(() => db.txn().require(Object.create(Lock.prototype)), /the lock of require must be a Lock from client.lock\(\)/);
    await db.close();
  });

  test(`${store}: the holes of a sparse key array are named`, async () => {
    const db = await connect(url());
    // eslint-disable-next-line no-sparse-arrays
    await refused(() => db.getMany([, 'a']), /keys\[0\] of getMany must be a string, not undefined/);
    // eslint-disable-next-line no-sparse-arrays
    await refused(() => db.session().loadMany(['a', , 'b']), /keys\[1\] of loadMany must be a string, not undefined/);
    await db.close();
  });

  test(`${store}: messages show the value given and one rule`, async () => {
    const db = await connect(url());
    await refused(() => db.retry(() => 1, { attempts: 1e300 }), /attempts of retry must be an integer from 1 to 1000000, not 1e\+300/);
    await refused(() => db.list('', { limit: 0 }), /the limit option of list must be an integer from 1 to 2\^53 - 1, not 0/);
    await refused(() => db.list('', { limit: 0.5 }), /from 1 to 2\^53 - 1, not 0.5/);
    await refused(() => db.set('sym', { [Symbol('s')]: 1 }), /a member keyed by a symbol is not JSON/);
    assert.equal(await db.get('sym'), null);
    await db.close();
  });
}

test('a token that is not valid Unicode is refused without showing it', async () => {
  await refused(() => connect('mem://tok', { token: 'a\uD800secret' }), /the token option of connect is not valid Unicode/);
  await assert.rejects(() => connect('mem://tok', { token: 'a\uD800secret' }), (e) => !e.message.includes('secret'));
});
