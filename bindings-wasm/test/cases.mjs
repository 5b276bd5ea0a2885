// The WebAssembly package's behaviour, written once and run in two hosts: Node (wasm.test.mjs)
// and headless Chromium (browser.test.mjs), against an interlock server (http://) and the
// in-process store (mem://). Each case takes { interlock, url, token, server } and throws on a
// failure; no test framework, so a browser page can run them as they are.

export class Failure extends Error {}

function check(condition, message) {
  if (!condition) {
    throw new Failure(message);
  }
}

/** JSON text with object keys sorted, so that equal values compare equal. */
function canonical(value) {
  return JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
    : v));
}

function equal(actual, expected, what) {
  const a = canonical(actual);
  const e = canonical(expected);
  check(a === e, `${what}: expected ${e}, got ${a}`);
}

async function rejects(promise, errorClass, code, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof errorClass, `${what}: expected ${errorClass.name}, got ${e?.constructor?.name}: ${e?.message}`);
    equal(e.code, code, `${what}: code`);
    return e;
  }
  throw new Failure(`${what}: expected ${errorClass.name}, but it succeeded`);
}

function throws(fn, errorClass, code, what) {
  try {
    fn();
  } catch (e) {
    check(e instanceof errorClass, `${what}: expected ${errorClass.name}, got ${e?.constructor?.name}: ${e?.message}`);
    equal(e.code, code, `${what}: code`);
    return e;
  }
  throw new Failure(`${what}: expected ${errorClass.name}, but it succeeded`);
}

/** A prefix no other case or run uses. */
function space(name) {
  return `wasm/${name}/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}/`;
}

async function open({ interlock, url, token }) {
  return interlock.connect(url, { token });
}

export const cases = {
  async 'put, get, set, list, getMany and index'(ctx) {
    const db = await open(ctx);
    const p = space('kv');
    const first = await db.put(`${p}a`, { n: 1, tags: ['x', 'y'], nested: { ok: true } }, 0);
    check(first.successful, 'a put at index 0 of an absent key succeeds');
    const a = await db.get(`${p}a`);
    equal(a.value, { n: 1, tags: ['x', 'y'], nested: { ok: true } }, 'the value read back');
    equal(a.index, first.index, 'the entry index is the write index');
    const setIndex = await db.set(`${p}b`, 'two');
    check(setIndex > first.index, 'indexes increase');
    check((await db.index()) >= setIndex, 'the store index is at least the last write');
    equal(await db.get(`${p}missing`), null, 'an absent key');
    const many = await db.getMany([`${p}b`, `${p}missing`, `${p}a`]);
    equal(many.map((e) => e.key), [`${p}b`, `${p}a`], 'getMany keeps the given order and skips the absent');
    await db.set(`${p}c`, 3);
    const page = await db.list(p, { limit: 2 });
    equal(page.entries.map((e) => e.key), [`${p}a`, `${p}b`], 'the first page');
    check(page.more, 'more entries follow');
    const rest = await db.list(p, { after: `${p}b` });
    equal(rest.entries.map((e) => e.value), [3], 'the next page');
    check(!rest.more, 'nothing after the last page');
    await db.close();
  },

  async 'compare-exchange puts and deletes'(ctx) {
    const db = await open(ctx);
    const key = `${space('cas')}email`;
    const created = await db.put(key, 'users/1', 0);
    check(created.successful, 'create-only on an absent key succeeds');
    const again = await db.put(key, 'users/2', 0);
    check(!again.successful, 'create-only on a present key fails');
    equal([again.index, again.value], [created.index, 'users/1'], 'a failed compare reports the current entry');
    const stale = await db.delete(key, { index: created.index + 1000 });
    check(!stale.successful, 'a delete at the wrong index fails');
    const deleted = await db.delete(key, { index: created.index });
    check(deleted.successful, 'a delete at the right index succeeds');
    equal(await db.get(key), null, 'the key is gone');
    await db.close();
  },

  async 'transactions commit together or report every conflict'(ctx) {
    const { ConcurrencyError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('txn');
    const index = await db.txn().set(`${p}from`, 100).set(`${p}to`, 0).commit();
    const [from, to] = await db.getMany([`${p}from`, `${p}to`]);
    equal([from.index, to.index], [index, index], 'both writes at one index');
    await db.set(`${p}from`, 90);
    const e = await rejects(
      db.txn().check(`${p}from`, from.index).check(`${p}to`, to.index).set(`${p}to`, 10).commit(),
      ConcurrencyError, 'ERR_CONCURRENCY', 'a stale check');
    equal(e.conflicts.map((c) => c.key), [`${p}from`], 'the conflict names the key that moved');
    check(e.conflicts[0].expected === from.index && e.conflicts[0].actual > from.index, 'expected and actual indexes');
    equal((await db.get(`${p}to`)).value, 0, 'nothing was written');
    await db.close();
  },

  async 'watch streams changes in order until returned'(ctx) {
    const db = await open(ctx);
    const p = space('watch');
    const start = await db.index();
    const events = db.watch(p, { fromIndex: start + 1 });
    await db.set(`${p}a`, 1);
    await db.set(`${p}b`, 2);
    await db.delete(`${p}a`);
    await db.set('wasm/elsewhere', 0);
    const seen = [];
    for await (const e of events) {
      seen.push([e.type, e.key, e.value]);
      if (seen.length === 3) break;
    }
    equal(seen, [['put', `${p}a`, 1], ['put', `${p}b`, 2], ['delete', `${p}a`, null]], 'the events');
    const again = db.watch(p);
    const pending = again.next();
    await again.return();
    equal(await pending, { done: true, value: undefined }, 'return() ends a pending next()');
    await db.close();
  },

  async 'locks are fair, fenced and tell who holds them'(ctx) {
    const a = await open(ctx);
    const b = await open(ctx);
    const name = space('lock');
    const first = a.lock(name, { ttl: 10, owner: 'first' });
    const token1 = await first.acquire();
    equal(first.fencingToken, token1, 'the held token');
    const second = b.lock(name, { ttl: 10, owner: 'second' });
    equal(await b.lock(name).tryAcquire(), null, 'tryAcquire on a held lock');
    let granted = false;
    const waiting = second.acquire().then((t) => { granted = true; return t; });
    for (let i = 0; i < 200 && (await a.lockQueue(name)).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const queue = await a.lockQueue(name);
    equal(queue.map((w) => [w.owner.owner, w.holder]), [['first', true], ['second', false]], 'the queue, holder first');
    check(queue[0].ttlLeft > 0 && queue[0].ttlLeft <= 10, 'the holder lease has time left');
    check(!granted, 'the second waits while the first holds');
    await first.release();
    const token2 = await waiting;
    check(token2 > token1, 'the next holder gets a greater token');
    check(second.held && !first.held, 'held moves');
    await second.release();
    await a.close();
    await b.close();
  },

  async 'lock waits time out or abort and leave no waiter'(ctx) {
    const { LockTimeoutError, AbortError } = ctx.interlock;
    const db = await open(ctx);
    const name = space('abort');
    const holder = db.lock(name);
    await holder.acquire();
    await rejects(db.lock(name).acquire({ timeout: 0.2 }), LockTimeoutError, 'ERR_LOCK_TIMEOUT', 'a timed-out wait');
    const controller = new AbortController();
    const waiting = db.lock(name).acquire({ signal: controller.signal });
    for (let i = 0; i < 200 && (await db.lockQueue(name)).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    controller.abort();
    await rejects(waiting, AbortError, 'ABORT_ERR', 'an aborted wait');
    let left = await db.lockQueue(name);
    for (let i = 0; i < 200 && left.length > 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
      left = await db.lockQueue(name);
    }
    equal(left.length, 1, 'only the holder is left in the queue');
    await holder.release();
    await db.close();
  },

  async 'leases end their entries; a lock on a lost lease fences writes'(ctx) {
    const { LockLostError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('lease');
    const lease = await db.lease(10);
    await db.set(`${p}session`, 'alive', { lease });
    check((await db.get(`${p}session`)).lease === lease.id, 'the entry names its lease');
    const left = await db.timeToLive(lease.id);
    check(left > 0 && left <= 10, `time to live ${left}`);
    const lock = db.lock(`${p}job`, { lease });
    equal(lease.id > 0n, true, 'the lease handle still works after lock() took it');
    await lock.acquire();
    let lost = false;
    lock.onLost(() => { lost = true; });
    equal(await lease.revoke(), true, 'revoked');
    equal(await db.get(`${p}session`), null, 'its entry is gone');
    equal(await db.timeToLive(lease.id), null, 'the lease is gone');
    check(lease.lost, 'the lease knows it is lost');
    await Promise.race([lock.waitLost(), new Promise((r) => setTimeout(r, 5000))]);
    check(lost && lock.lost, 'the lock reports the loss');
    await rejects(db.txn().require(lock).set(`${p}report`, 1).commit(), LockLostError, 'ERR_LOCK_LOST', 'a fenced write');
    equal(await db.get(`${p}report`), null, 'the fenced write did not happen');
    await db.close();
  },

  async 'sessions save changes and refuse lost updates'(ctx) {
    const { ConcurrencyError } = ctx.interlock;
    const db = await open(ctx);
    const key = `${space('session')}order`;
    await db.set(key, { status: 'new', items: 1 });
    const mine = db.session();
    const theirs = db.session();
    const order = await mine.load(key);
    const other = await theirs.load(key);
    order.status = 'paid';
    other.items = 2;
    check(mine.hasChanges, 'an in-place change is seen');
    check((await mine.saveChanges()) > 0, 'the first save commits');
    await rejects(theirs.saveChanges(), ConcurrencyError, 'ERR_CONCURRENCY', 'the second save');
    equal((await db.get(key)).value, { status: 'paid', items: 1 }, 'no lost update');
    await db.close();
  },

  async 'bad input is refused with a clear error and nothing written'(ctx) {
    const { InvalidArgumentError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('input');
    const reserved = await rejects(db.set('@lock/x', 1), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a reserved key');
    check(/@/.test(reserved.message), `the message names the key: ${reserved.message}`);
    const nan = await rejects(db.set(`${p}n`, { x: NaN }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'NaN');
    check(nan.message.includes('$.x'), `the message names where: ${nan.message}`);
    await rejects(db.put(`${p}i`, 1, -1), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a negative index');
    await rejects(db.lease(-1), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a negative ttl');
    throws(() => db.txn().set(`${p}t`, undefined), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'undefined');
    equal((await db.list(p)).entries, [], 'nothing was written');
    await db.close();
    await rejects(db.get(`${p}n`), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a closed client');
  },
};

/** The names and behaviours every package shares (docs/vocabulary.md). */
Object.assign(cases, {
  async 'put needs an index; set writes unconditionally'(ctx) {
    const { InvalidArgumentError, ConcurrencyError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('vocab-put');
    const e = await rejects(db.put(`${p}k`, 1), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'put without an index');
    check(/index of put .* \(required: 0 creates only if absent; set\(\) writes unconditionally\)/.test(e.message), e.message);
    const first = await db.set(`${p}k`, 1);
    check((await db.set(`${p}k`, 2)) > first, 'set overwrites');
    equal((await db.put(`${p}k`, 3, 0)).successful, false, 'put at 0 of an existing key');
    throws(() => db.txn().put(`${p}j`, 1), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a txn put without an index');
    const index = await db.txn().set(`${p}j`, 1).commit();
    equal((await db.get(`${p}j`)).index, index, 'txn set');
    await rejects(db.txn().put(`${p}j`, 2, 0).commit(), ConcurrencyError, 'ERR_CONCURRENCY', 'a txn put at 0 of an existing key');
    await db.close();
  },

  async 'a watch starts when it is made'(ctx) {
    const db = await open(ctx);
    const p = space('vocab-watch');
    const watch = db.watch(p);
    const index = await db.set(`${p}1`, 'x');
    const { value } = await watch.next();
    equal([value.key, value.index], [`${p}1`, index], 'the write before the first next()');
    watch.close();
    await db.close();
  },

  async 'lease ids are bigints; lost is a boolean with waitLost'(ctx) {
    const { InvalidArgumentError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('vocab-lease');
    const lease = await db.lease(5);
    check(typeof lease.id === 'bigint' && lease.id > 0n, `lease.id is a bigint: ${typeof lease.id}`);
    await db.set(`${p}k`, 1, { lease });
    check((await db.get(`${p}k`)).lease === lease.id, 'Entry.lease is the same bigint');
    throws(() => db.revoke(String(lease.id)), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a lease id as a string');
    check(lease.lost === false, 'lease.lost is false');
    equal(await lease.waitLost({ timeout: 0.05 }), false, 'waitLost times out');
    const waiting = lease.waitLost();
    await db.revoke(lease.id);
    equal(await waiting, true, 'waitLost resolves once revoked');
    check(lease.lost === true, 'lease.lost is true');
    await db.close();
  },

  async "arguments: another client's Lease, transaction steps, lone surrogates, null, bigint indexes"(ctx) {
    const { InvalidArgumentError } = ctx.interlock;
    const a = await open(ctx);
    const b = await open(ctx);
    const p = space('arguments');
    const mine = await a.lease(30);
    const theirs = await b.lease(30);
    const foreign = throws(() => a.revoke(theirs), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', "another client's Lease");
    check(/the lease of revoke \(Lease \d+n\) belongs to another client/.test(foreign.message), foreign.message);
    throws(() => a.lock(`${p}l`, { lease: theirs }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', "another client's Lease for a lock");
    await rejects(a.set(`${p}f`, 1, { lease: theirs }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', "another client's Lease for set");
    check(!mine.lost && !theirs.lost, 'both leases are alive');
    check((await a.timeToLive(theirs.id)) > 0, 'a lease id is taken by any client');
    const txn = a.txn().set(`${p}ok`, 1);
    const step = throws(() => txn.set('@x', 1), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a reserved key in a transaction step');
    check(/key '@x' is reserved/.test(step.message), step.message);
    throws(() => txn.delete(''), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'an empty key in a transaction step');
    const index = await txn.commit();
    equal((await a.get(`${p}ok`)).index, index, 'the refused steps are left out');
    const lone = await rejects(a.set(`${p}\uD800`, 1), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a lone surrogate in a key');
    check(/lone surrogate \(\\ud800 at position \d+\)/.test(lone.message), lone.message);
    await rejects(a.set(`${p}v`, ['\uDC00']), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a lone surrogate in a value');
    equal((await a.list(p)).entries.map((e) => e.key), [`${p}ok`], 'nothing else was written');
    const lock = a.lock(`${p}l`, { ttl: null, owner: null, lease: null });
    check((await lock.acquire({ timeout: null, signal: null })) > 0, 'null options are not given');
    await lock.release();
    equal((await a.put(`${p}ok`, 2, BigInt(index))).successful, true, 'a bigint index');
    await rejects(a.put(`${p}ok`, 3, 2n ** 53n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a bigint index of 2^53');
    await a.close();
    await b.close();
  },

  async 'retry takes attempts by the core rule'(ctx) {
    const { InvalidArgumentError, ConcurrencyError } = ctx.interlock;
    const db = await open(ctx);
    let calls = 0;
    const e = await rejects(db.retry(() => { calls++; }, { attempts: 0 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'attempts 0');
    check(/attempts of retry must be an integer from 1 to 1000000, not 0/.test(e.message), e.message);
    equal(calls, 0, 'fn did not run');
    await rejects(db.retry(async () => { calls++; await db.txn().check(`${space('vocab-retry')}never`, 5).commit(); }, { attempts: 2 }),
      ConcurrencyError, 'ERR_CONCURRENCY', 'two attempts');
    equal(calls, 2, 'fn ran twice');
    await rejects(ctx.interlock.connect(ctx.url, { token: ctx.token, tokn: 'x' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'an unknown connect option');
    await db.close();
  },

  async 'session arguments, compare-exchange indexes and callbacks are checked'(ctx) {
    const { InvalidArgumentError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('checked');
    const before = await db.index();
    const load = await rejects(db.session().load(42), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a number as the key of load');
    check(/the key of load must be a string, not 42 \(number\)/.test(load.message), load.message);
    const many = await rejects(db.session().loadMany('abc'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a string as the keys of loadMany');
    check(/the keys of loadMany must be an array of strings, not the string 'abc'/.test(many.message), many.message);
    for (const [index, shown] of [[null, 'null'], ['0', "the string '0'"], [true, 'true (boolean)'], [1.5, '1.5 (number)']]) {
      const s = db.session();
      const e = throws(() => s.putCompareExchange(`${p}cx`, 1, index), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', `index ${shown}`);
      check(e.message.includes(`the index of putCompareExchange '${p}cx'`) && e.message.endsWith(`not ${shown}`), e.message);
      equal(await s.saveChanges(), null, `nothing staged for index ${shown}`);
    }
    equal(await db.index(), before, 'nothing was written');
    const s = db.session();
    s.putCompareExchange(`${p}cx`, 1, 0n);
    check(typeof (await s.saveChanges()) === 'number', 'a bigint index is an index');
    const lock = db.lock(`${p}lock`);
    const onLost = throws(() => lock.onLost(5), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a number as a lock callback');
    check(/the callback of onLost must be a function, not 5 \(number\)/.test(onLost.message), onLost.message);
    const lease = await db.lease(5);
    throws(() => lease.onLost(null), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'null as a lease callback');
    await db.close();
  },

  async 'messages show values as JavaScript does, and AbortError has its kind'(ctx) {
    const { InvalidArgumentError, AbortError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('messages');
    const undef = await rejects(db.set(`${p}u`, { a: undefined }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'undefined in an object');
    check(/\$\.a: undefined is not JSON/.test(undef.message) && !/a undefined/.test(undef.message), undef.message);
    const map = await rejects(db.set(`${p}m`, new Map([['a', 1]])), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a Map');
    check(/a Map is not JSON \(.*Object\.fromEntries/.test(map.message) && !/Date/.test(map.message), map.message);
    const owner = throws(() => db.lock(`${p}l`, { owner: { team: 'a' } }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'an object owner');
    check(/not the object \{"team":"a"\}$/.test(owner.message), owner.message);
    const aborted = await rejects(db.lock(`${p}l`).acquire({ signal: AbortSignal.abort() }), AbortError, 'ABORT_ERR', 'an aborted wait');
    equal(aborted.kind, 'Abort', 'AbortError.kind');
    await db.close();
  },

  async 'getMany reads at most 1000 keys on every store'(ctx) {
    const { InvalidArgumentError } = ctx.interlock;
    const db = await open(ctx);
    const p = space('many');
    await db.set(`${p}7`, 7);
    const keys = Array.from({ length: 1000 }, (_, i) => `${p}${i}`);
    equal((await db.getMany(keys)).map((e) => e.value), [7], '1000 keys');
    const e = await rejects(db.getMany([...keys, `${p}x`]), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '1001 keys');
    check(/1001 keys is too many: at most 1000 keys/.test(e.message), e.message);
    await db.close();
  },

  async 'a watch whose client closes while it starts ends quietly'(ctx) {
    for (let round = 0; round < 3; round++) {
      const db = await open(ctx);
      const watch = db.watch(space('closing'));
      await db.close();
      equal(await watch.next(), { done: true }, 'the watch ends');
    }
  },
});

/** Cases that need a server. */
export const serverCases = {
  async 'a wrong token is UnauthorizedError, a dead server UnavailableError'(ctx) {
    const { UnauthorizedError, UnavailableError } = ctx.interlock;
    await rejects(ctx.interlock.connect(ctx.url, { token: `${ctx.token}-wrong` }), UnauthorizedError, 'ERR_UNAUTHORIZED', 'a wrong token');
    await rejects(ctx.interlock.connect('http://127.0.0.1:9', { token: ctx.token }), UnavailableError, 'ERR_UNAVAILABLE', 'nothing listening');
  },

  async 'the URL must name a server'(ctx) {
    const { InvalidArgumentError } = ctx.interlock;
    await rejects(ctx.interlock.connect(`${ctx.url}/v1`), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a path');
    const sqlite = await rejects(ctx.interlock.connect('sqlite:///tmp/x.db'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a store this host cannot open');
    check(/sqlite:\/\/ stores cannot be opened from WebAssembly/.test(sqlite.message), `the message says why: ${sqlite.message}`);
    check(/expected mem:\/\/ or http:\/\/HOST:PORT/.test(sqlite.message), `the message lists what is supported: ${sqlite.message}`);
    check(!/expected (mem|http)[^(]*sqlite/.test(sqlite.message), `sqlite:// is not listed as supported: ${sqlite.message}`);
    const etcd = await rejects(ctx.interlock.connect('etcd://127.0.0.1:2379'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'etcd from WebAssembly');
    check(/etcd:\/\/ stores cannot be opened from WebAssembly/.test(etcd.message), etcd.message);
    const bogus = await rejects(ctx.interlock.connect('ftp://x'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'an unknown scheme');
    check(/expected mem:\/\/ or http:\/\/HOST:PORT$/.test(bogus.message), `only what WebAssembly opens: ${bogus.message}`);
  },
};
