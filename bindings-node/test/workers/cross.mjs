// The Node side of the cross-language test (crosslang.test.mjs); workers/cross_worker.py is the
// Python side, and both do exactly the same.
//
// Usage: `node cross.mjs URL ROUNDS`. Connects, prints "ready", waits for a line on stdin, then
// ROUNDS times: takes the lock "shared-counter", reads the counter "counters/shared", writes it
// back plus one with a compare-exchange at the index it read (which must succeed while the lock
// is held), and releases. Prints one JSON line: the [fencing token, value read] of every round, in order.
import { once } from 'node:events';
import { connect } from 'interlock-db';

const [url, rounds] = [process.argv[2], Number(process.argv[3])];
const db = await connect(url);
const lock = db.lock('shared-counter', { ttl: 10, owner: 'node' });
console.log('ready');
process.stdin.resume();
await once(process.stdin, 'data');
process.stdin.pause();
const seen = [];
for (let n = 0; n < rounds; n++) {
  const token = await lock.acquire({ timeout: 60 });
  const entry = await db.get('counters/shared');
  const [value, index] = entry ? [entry.value, entry.index] : [0, 0];
  const r = await db.put('counters/shared', value + 1, index);
  if (!r.successful) {
    throw new Error(`the counter moved while the lock was held: ${JSON.stringify(r)}`);
  }
  seen.push([token, value]);
  await lock.release();
}
await db.close();
console.log(JSON.stringify(seen));
