// The stores every test file runs against: the in-process one, a real SQLite file and the real
// etcd cluster that scripts/test-node.sh starts (its endpoints in INTERLOCK_NODE_ETCD).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let n = 0;

/** The etcd cluster's `etcd://host:port,…` URL. Running the suite by hand without one fails,
 * unless INTERLOCK_NODE_STORES=local says to leave etcd out on purpose. */
export function etcdUrl() {
  const url = process.env.INTERLOCK_NODE_ETCD;
  if (!url) {
    throw new Error('INTERLOCK_NODE_ETCD is not set: run the suite with `bash scripts/test-node.sh`, '
      + 'which starts an etcd cluster (or set INTERLOCK_NODE_STORES=local to test without etcd)');
  }
  return url;
}

export function withEtcd() {
  return process.env.INTERLOCK_NODE_STORES !== 'local';
}

/** A fresh SQLite file's URL. */
export function sqliteUrl() {
  return `sqlite://${join(mkdtempSync(join(tmpdir(), 'interlock-node-')), 'test.db')}`;
}

/** A fresh key prefix on the etcd cluster. */
export function etcdPrefixUrl() {
  return `${etcdUrl()}?prefix=node-${process.pid}-${n++}/`;
}

export function stores() {
  const list = [
    ['mem', () => `mem://node-test-${process.pid}-${n++}`],
    ['sqlite', sqliteUrl],
  ];
  if (withEtcd()) {
    list.push(['etcd', etcdPrefixUrl]);
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
