// `await using` releases a lock at scope exit, on success and on throw (compiled by tsc: Node 20
// has Symbol.asyncDispose but not the syntax).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'interlock-db';

test('await using releases the lock when the scope ends', async () => {
  await using db = await connect('mem://dispose');
  {
    await using lock = db.lock('scoped', { ttl: 10 });
    const token = await lock.acquire();
    assert.equal((await db.lockQueue('scoped'))[0].token, token);
  }
  assert.deepEqual(await db.lockQueue('scoped'), []);
  await assert.rejects(async () => {
    await using lock = db.lock('scoped');
    await lock.acquire();
    throw new Error('work failed');
  }, /work failed/);
  assert.deepEqual(await db.lockQueue('scoped'), [], 'released after a throw too');
  {
    await using unacquired = db.lock('scoped');
    assert.equal(unacquired.held, false);
  }
});
