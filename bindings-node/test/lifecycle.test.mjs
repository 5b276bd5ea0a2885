// The lifecycle matrix of the Node package: how a process holding or waiting for a lock ends ×
// the store (a real SQLite file, the real etcd cluster, a real `interlock serve` over SQLite),
// each with real worker processes (workers/lifecycle.mjs). The cells are in lifecycle-cells.mjs;
// the WebAssembly package runs the same cells where they apply
// (bindings-wasm/test/lifecycle.test.mjs).
//
// What Node does, and these cells hold it to:
// - close(): the lock frees at once for other clients; a pending acquire rejects; the process
//   ends by itself.
// - a held lock object that is garbage-collected: its entry is removed at once.
// - the event loop ending while holding (no close, no release), an uncaught exception, an
//   unhandled rejection, process.exit(): the package's 'exit' listener closes the process's
//   open clients, so the lock frees (or the waiter entry goes) far below the TTL.
// - SIGTERM, SIGINT (Node's default: the process dies without running JavaScript) and SIGKILL:
//   nothing runs, and the lock frees when its lease expires, within the TTL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'interlock-db';
import {
  CLEAN_WITHIN, LONG_TTL, RUNS, SHORT_TTL, assertFreedWithin, assertNoPanic, closeWhileHolding,
  closeWhileWaiting, exitCell, lockName, repeat, worker,
} from './lifecycle-cells.mjs';
import { TOKEN, serve } from './serve.mjs';
import { etcdPrefixUrl, sqliteUrl, withEtcd } from './stores.mjs';

/** Each store: a name, and a fixture returning { url, env, stop }. */
const stores = [
  ['sqlite', async () => ({ url: sqliteUrl(), env: {}, stop: async () => {} })],
  ...(withEtcd() ? [['etcd', async () => ({ url: etcdPrefixUrl(), env: {}, stop: async () => {} })]] : []),
  ['http', async () => {
    const server = await serve(sqliteUrl());
    return { url: server.url, env: { INTERLOCK_TOKEN: TOKEN }, stop: server.stop };
  }],
];

/** Processes that exit or are killed run RUNS times, this many at a time. */
const CONCURRENCY = 8;

/** The cells where the process ends (run RUNS times each). */
const exits = [
  ['normal exit while holding', 'end', { code: 0 }],
  ['normal exit while waiting (a 1 s timeout)', 'end-waiting', { code: 0, stdout: /acquire failed: ERR_LOCK_TIMEOUT/ }],
  ['uncaught exception while holding', 'throw', { code: 1, stderr: /the worker failed while holding the lock/ }],
  ['unhandled rejection while holding', 'reject', { code: 1, stderr: /an unhandled rejection while holding the lock/ }],
  ['process.exit() while holding', 'exit', { code: 3 }],
  ['process.exit() while waiting', 'exit-waiting', { code: 3 }],
  ['SIGTERM while holding', 'idle', { signal: 'SIGTERM' }],
  ['SIGINT while holding', 'idle', { signal: 'SIGINT' }],
  ['SIGKILL while holding', 'idle', { signal: 'SIGKILL' }],
  ['SIGKILL while waiting', 'idle-waiting', { signal: 'SIGKILL' }],
];

for (const [store, fixture] of stores) {
  describe(`Node × ${store}`, () => {
    let s;
    let db;
    before(async () => {
      s = await fixture();
      db = await connect(s.url, { token: TOKEN });
    });
    after(async () => {
      await db?.close();
      await s?.stop();
    });

    test('close while holding: the lock frees at once, the holder sees it lost, the process ends', () =>
      closeWhileHolding({ db, url: s.url, env: s.env, cell: 'close' }));

    test('close while waiting: the acquire rejects, the waiter entry goes, the process ends', () =>
      closeWhileWaiting({ db, url: s.url, env: s.env, cell: 'close-waiting' }));

    test('a held lock nothing refers to stays held through garbage collections, and frees when its process ends', async () => {
      const name = lockName('gc');
      const w = worker({ url: s.url, name, ttl: LONG_TTL, scenario: 'gc', env: s.env, nodeArgs: ['--expose-gc'] });
      await w.ready;
      await w.printed(/collected/);
      assert.equal(w.child.exitCode, null);
      // The program still acts as the holder: the lock is still its own.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await db.lockQueue(name)).filter((q) => q.holder).length, 1, 'still held after the collections');
      // Its event loop ends: the exit closes the client, and the lock frees at once.
      w.child.stdin.end();
      const r = await w.done;
      assert.equal(r.code, 0, r.stderr);
      assertNoPanic(r, 'gc');
      await assertFreedWithin(db, name, CLEAN_WITHIN, 'the holder ended');
    });

    for (const [cell, scenario, expect] of exits) {
      test(`${cell} (${RUNS} runs): ${expect.signal ? `frees within the TTL (${SHORT_TTL} s)` : `frees far below the TTL (${CLEAN_WITHIN} s of ${LONG_TTL} s)`}`, async () => {
        await repeat(RUNS, expect.signal ? 2 * CONCURRENCY : CONCURRENCY, () => exitCell({
          db, url: s.url, env: s.env, scenario, expect, cell: `${store}-${scenario}`,
        }));
      });
    }
  });
}
