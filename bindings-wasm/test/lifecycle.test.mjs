// The lifecycle matrix of the WebAssembly package in Node, where it applies: its stores are a
// real `interlock serve` (http://, here over SQLite) and the in-process mem:// (which dies with
// its process, so only the in-process cells apply there). The cells are the Node package's
// (bindings-node/test/lifecycle-cells.mjs), run with workers that load this package's dist/.
//
// What differs from the Node package, and these cells hold it to: a kept-alive lease (a held
// lock's, or the client's shared lease) holds the event loop open until close(), so a process
// that holds a lock does not end by itself; and nothing can block at exit for the revocations, so
// on process.exit(), an uncaught exception or an unhandled rejection the lock frees when its
// lease expires, within the TTL, as on a signal.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import * as interlock from '../dist/index.js';
import {
  CLEAN_WITHIN, EXPIRY_SLACK, LONG_TTL, RUNS, SHORT_TTL, assertFreedWithin, assertNoPanic,
  closeWhileHolding, closeWhileWaiting, exitCell, lockName, repeat, worker,
} from '../../bindings-node/test/lifecycle-cells.mjs';
import { TOKEN, serve } from './serve.mjs';

const PACKAGE = pathToFileURL(new URL('../dist/index.js', import.meta.url).pathname).href;
const env = { INTERLOCK_LIFECYCLE_PACKAGE: PACKAGE, INTERLOCK_TOKEN: TOKEN };
const CONCURRENCY = 8;

function within(promise, what, seconds = 20) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen within ${seconds} s`)), seconds * 1000); }),
  ]).finally(() => clearTimeout(timer));
}

describe('WebAssembly × http (a real server over SQLite)', () => {
  let server;
  let db;
  before(async () => {
    server = await serve();
    db = await interlock.connect(server.url, { token: TOKEN });
  });
  after(async () => {
    await db?.close();
    await server?.stop();
  });

  test('close while holding: the lock frees at once, the holder sees it lost, the process ends', () =>
    closeWhileHolding({ db, url: server.url, env, cell: 'wasm-close' }));

  test('close while waiting: the acquire rejects, the waiter entry goes, the process ends', () =>
    closeWhileWaiting({ db, url: server.url, env, cell: 'wasm-close-waiting' }));

  test('a held lock nothing refers to stays held through garbage collections', async () => {
    const name = lockName('wasm-gc');
    const w = worker({ url: server.url, name, ttl: LONG_TTL, scenario: 'gc', env, nodeArgs: ['--expose-gc'] });
    await w.ready;
    await w.printed(/collected/);
    assert.equal(w.child.exitCode, null);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await db.lockQueue(name)).filter((q) => q.holder).length, 1, 'still held after the collections');
    w.child.kill('SIGKILL'); // its client's shared lease holds the event loop open (documented)
    assertNoPanic(await w.done, 'gc');
  });

  test('holding a lock without close() keeps the process alive and the lock renewed (documented)', async () => {
    const name = lockName('wasm-end');
    const w = worker({ url: server.url, name, ttl: SHORT_TTL, scenario: 'end', env });
    const token = Number((await w.ready).split(' ')[1]);
    // Past twice the TTL the lock is still this process's: its lease was renewed.
    await new Promise((r) => setTimeout(r, 2 * SHORT_TTL * 1000));
    assert.equal(w.child.exitCode, null, 'the process is alive');
    assert.deepEqual((await db.lockQueue(name)).map((q) => q.token), [token]);
    w.child.kill('SIGKILL');
    assertNoPanic(await w.done, 'end');
    await assertFreedWithin(db, name, SHORT_TTL + EXPIRY_SLACK, 'after the kill');
  });

  const exits = [
    ['uncaught exception while holding', 'throw', { code: 1, ttl: SHORT_TTL, stderr: /the worker failed while holding the lock/ }],
    ['unhandled rejection while holding', 'reject', { code: 1, ttl: SHORT_TTL, stderr: /an unhandled rejection while holding the lock/ }],
    ['process.exit() while holding', 'exit', { code: 3, ttl: SHORT_TTL }],
    ['process.exit() while waiting', 'exit-waiting', { code: 3, ttl: SHORT_TTL }],
    ['SIGTERM while holding', 'idle', { signal: 'SIGTERM' }],
    ['SIGINT while holding', 'idle', { signal: 'SIGINT' }],
    ['SIGKILL while holding', 'idle', { signal: 'SIGKILL' }],
    ['SIGKILL while waiting', 'idle-waiting', { signal: 'SIGKILL' }],
  ];
  for (const [cell, scenario, expect] of exits) {
    test(`${cell} (${RUNS} runs): frees within the TTL (${SHORT_TTL} s)`, async () => {
      await repeat(RUNS, 2 * CONCURRENCY, () => exitCell({
        db, url: server.url, env, scenario, expect, cell: `wasm-http-${scenario}`,
      }));
    });
  }
});

describe('WebAssembly × mem:// (in process)', () => {
  test('close while holding: another client gets the lock at once, the holder sees it lost', async () => {
    const a = await interlock.connect('mem://wasm-lifecycle-close');
    const b = await interlock.connect('mem://wasm-lifecycle-close');
    const held = a.lock('printer', { ttl: LONG_TTL });
    const token = await held.acquire();
    const lost = held.waitLost();
    const waiting = b.lock('printer', { ttl: LONG_TTL }).acquire({ timeout: CLEAN_WITHIN });
    while ((await b.lockQueue('printer')).length < 2) await new Promise((r) => setTimeout(r, 5));
    await a.close();
    assert.ok((await waiting) > token);
    await within(lost, 'lock.lost after close()');
    await assert.rejects(held.release(), (e) => e instanceof interlock.LockLostError && /closed/.test(e.message));
    await assert.rejects(a.get('k'), (e) => e instanceof interlock.InvalidArgumentError && /closed/.test(e.message));
    await assert.rejects(held.acquire({ timeout: 1 }), (e) => e instanceof interlock.InvalidArgumentError && /closed/.test(e.message));
    await b.close();
  });

  test('close while waiting: the acquire rejects and the waiter entry goes', async () => {
    const a = await interlock.connect('mem://wasm-lifecycle-waiting');
    const b = await interlock.connect('mem://wasm-lifecycle-waiting');
    const holder = b.lock('q', { ttl: LONG_TTL });
    const token = await holder.acquire();
    const waiting = assert.rejects(a.lock('q', { ttl: LONG_TTL }).acquire(),
      (e) => e instanceof interlock.InvalidArgumentError && /closed/.test(e.message));
    while ((await b.lockQueue('q')).length < 2) await new Promise((r) => setTimeout(r, 5));
    await a.close();
    await waiting;
    assert.deepEqual((await b.lockQueue('q')).map((w) => w.token), [token]);
    await holder.release();
    await b.close();
  });

  test('a held lock nothing refers to stays held through garbage collections until its client closes', () => {
    const script = `
      const { connect } = await import(${JSON.stringify(PACKAGE)});
      const a = await connect('mem://gc');
      const b = await connect('mem://gc');
      await (async () => { await a.lock('collected', { ttl: ${LONG_TTL} }).acquire(); })();
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
      await new Promise((r) => setTimeout(r, 500));
      console.log('while held: ' + await b.lock('collected', { ttl: ${LONG_TTL} }).tryAcquire());
      await a.close();
      const token = await b.lock('collected', { ttl: ${LONG_TTL} }).acquire({ timeout: ${CLEAN_WITHIN} });
      console.log('acquired ' + token);
      await b.close();
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, `the process did not end by itself after close(): ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^while held: null$/m);
    assert.match(r.stdout, /acquired \d+/);
  });

  test('a second acquire on a waiting lock object is refused, and the first stays cancellable', async () => {
    const db = await interlock.connect('mem://wasm-lifecycle-one');
    const holder = db.lock('one', { ttl: 30 });
    await holder.acquire();
    const lock = db.lock('one', { ttl: 30 });
    const controller = new AbortController();
    const first = lock.acquire({ signal: controller.signal });
    while ((await db.lockQueue('one')).length < 2) await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(lock.acquire({ timeout: 5 }),
      (e) => e instanceof interlock.InvalidArgumentError && /already .*being acquired/.test(e.message));
    controller.abort();
    await assert.rejects(within(first, 'the first acquire ending on abort'), interlock.AbortError);
    while ((await db.lockQueue('one')).length !== 1) await new Promise((r) => setTimeout(r, 5));
    await holder.release();
    await db.close();
  });

  test('withLock(name, fn), and its signal aborting when the client closes', async () => {
    const db = await interlock.connect('mem://wasm-lifecycle-with');
    assert.equal(await db.withLock('w', (held, signal) => held.held && !signal.aborted), true);
    await assert.rejects(db.withLock('w', { ttl: 30 }, async (held, signal) => {
      await db.close();
      // The loss may be delivered during close() itself: then the signal has already aborted.
      await within(new Promise((r) => (signal.aborted ? r() : signal.addEventListener('abort', r, { once: true }))), 'the signal aborting');
    }), interlock.LockLostError);
  });

  test('a bad ttl throws at db.lock(), a huge timeout is refused naming it', async () => {
    const db = await interlock.connect('mem://wasm-lifecycle-options');
    assert.throws(() => db.lock('x', { ttl: -1 }), interlock.InvalidArgumentError);
    assert.throws(() => db.lock('x', { ttl: 0.5 }), interlock.InvalidArgumentError);
    await assert.rejects(db.lock('x').acquire({ timeout: 1e19 }),
      (e) => e instanceof interlock.InvalidArgumentError && /timeout/.test(e.message) && !/panicked/.test(e.message));
    await db.close();
  });
});
