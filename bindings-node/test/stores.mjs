// The stores every test file runs against: the in-process one and a real SQLite file. (The etcd
// cluster joins when INTERLOCK_NODE_ETCD names one.)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let n = 0;

export function stores() {
  const list = [
    ['mem', () => `mem://node-test-${process.pid}-${n++}`],
    ['sqlite', () => `sqlite://${join(mkdtempSync(join(tmpdir(), 'interlock-node-')), 'test.db')}`],
  ];
  if (process.env.INTERLOCK_NODE_ETCD) {
    list.push(['etcd', () => `${process.env.INTERLOCK_NODE_ETCD}?prefix=node-${process.pid}-${n++}/`]);
  }
  return list;
}

/** Awaits `promise`, failing after 20 s. `lease.lost` and `lock.lost` do not hold the event loop
 * open (a process may exit with a lock it never loses), so a test awaiting one needs this timer
 * to stay alive until the loss is delivered. */
export async function within(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within 20 s`)), 20_000);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}
