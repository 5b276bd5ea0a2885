// The package against a real `interlock serve` (http://) over a real SQLite file: the token
// option, INTERLOCK_TOKEN when none is given, UnauthorizedError for a wrong one, and a lock
// through the server. The binary is INTERLOCK_SERVER_EXE (scripts/test-node.sh builds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, InterlockError, UnauthorizedError } from 'interlock-db';
import { TOKEN, serve } from './serve.mjs';
import { sqliteUrl } from './stores.mjs';

test('http: the token option, INTERLOCK_TOKEN, and a wrong token', async () => {
  const { url, child } = await serve(sqliteUrl());
  try {
    const db = await connect(url, { token: TOKEN });
    assert.equal((await db.put('k', { v: 1 }, 0)).successful, true);
    const lock = db.lock('printer', { ttl: 5 });
    const token = await lock.acquire({ timeout: 10 });
    assert.equal(typeof token, 'number');
    assert.deepEqual((await db.lockQueue('printer')).map((w) => w.token), [token]);
    await lock.release();
    await db.close();

    process.env.INTERLOCK_TOKEN = TOKEN;
    try {
      const fromEnv = await connect(url);
      assert.deepEqual((await fromEnv.get('k')).value, { v: 1 });
      await fromEnv.close();
    } finally {
      delete process.env.INTERLOCK_TOKEN;
    }

    await assert.rejects(connect(url, { token: 'wrong' }), (e) => {
      assert.ok(e instanceof UnauthorizedError && e instanceof InterlockError, String(e));
      assert.equal(e.code, 'ERR_UNAUTHORIZED');
      return true;
    });
    await assert.rejects(connect(url), { code: 'ERR_UNAUTHORIZED' });
  } finally {
    child.kill('SIGKILL');
  }
});

test('http: a watch whose client closes while it starts ends, as on every store', async () => {
  const { url, child } = await serve(sqliteUrl());
  try {
    for (let round = 0; round < 5; round++) {
      const db = await connect(url, { token: TOKEN });
      const watch = db.watch('w/');
      await db.close();
      assert.deepEqual(await watch.next(), { done: true, value: undefined });
    }
    const db = await connect(url, { token: TOKEN });
    const keys = Array.from({ length: 1000 }, (_, i) => `many/${i}`);
    assert.deepEqual(await db.getMany(keys), [], 'a getMany of 1000 keys passes the server');
    await assert.rejects(db.getMany([...keys, 'many/1000']), (e) => {
      assert.equal(e.code, 'ERR_INVALID_ARGUMENT');
      assert.match(e.message, /1001 keys is too many: at most 1000 keys/);
      return true;
    });
    await db.close();
  } finally {
    child.kill('SIGKILL');
  }
});
