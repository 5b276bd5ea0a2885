// One of the two processes of a handoff run (handoff.mjs forks it): builds the contender's lock
// and does what the parent tells it over IPC. Latency stamps are process.hrtime.bigint()
// (CLOCK_MONOTONIC on Linux, the same clock in every process), sent as decimal strings.

import { setTimeout as sleep } from 'node:timers/promises';

// How long the holder keeps the lock after the waiter announced (and queued).
const SETTLE_MS = 5;

/** The contender's lock as { acquire(), release(), queueLen?(), close() }. */
async function makeLock(spec) {
  if (spec.kind === 'interlock') {
    const { connect } = await import('interlock');
    const db = await connect(spec.target);
    const lock = db.lock(spec.lockName);
    return {
      acquire: () => lock.acquire(),
      release: () => lock.release(),
      queueLen: async () => (await db.lockQueue(spec.lockName)).length,
      close: () => db.close(),
    };
  }
  if (spec.kind === 'etcd3') {
    // etcd3's Lock does not wait: acquire() rejects with EtcdLockFailedError when the key exists.
    // A user retries; the benchmark retries every pollS seconds.
    const { Etcd3, EtcdLockFailedError } = await import('etcd3');
    const client = new Etcd3({ hosts: spec.target });
    const lock = client.lock(spec.lockName);
    return {
      acquire: async () => {
        for (;;) {
          try {
            return await lock.acquire();
          } catch (e) {
            if (!(e instanceof EtcdLockFailedError)) throw e;
          }
          await sleep(spec.pollS * 1000);
        }
      },
      release: () => lock.release(),
      close: () => client.close(),
    };
  }
  if (spec.kind === 'redlock') {
    const { default: Redis } = await import('ioredis');
    const { default: Redlock } = await import('redlock');
    const [host, port] = spec.target.split(':');
    const redis = new Redis({ host, port: Number(port) });
    // retryCount -1: retry until it is ours; the delay between tries is redlock's default.
    const redlock = new Redlock([redis], { retryCount: -1 });
    let held = null;
    return {
      acquire: async () => {
        held = await redlock.lock(spec.lockName, 20_000);
      },
      release: async () => {
        await held.unlock();
        held = null;
      },
      close: () => redis.quit(),
    };
  }
  throw new Error(`unknown contender kind ${spec.kind}`);
}

let lock = null;
let spec = null;

async function handle(m) {
  switch (m.cmd) {
    case 'init':
      spec = m.spec;
      lock = await makeLock(spec);
      return { type: 'ready' };
    case 'acquire':
      await lock.acquire();
      return { type: 'acquired', t1: process.hrtime.bigint().toString() };
    case 'wait': {
      // Announce, then wait for the lock; the holder releases once it has seen the announcement.
      process.send({ type: 'announced' });
      await lock.acquire();
      return { type: 'acquired', t1: process.hrtime.bigint().toString() };
    }
    case 'release': {
      let unqueued = false;
      if (lock.queueLen) {
        const deadline = Date.now() + 1000;
        while ((await lock.queueLen()) < 2) {
          if (Date.now() > deadline) {
            unqueued = true;
            break;
          }
          await sleep(0.2);
        }
      }
      await sleep(SETTLE_MS + Math.random() * spec.pollS * 1000);
      const t0 = process.hrtime.bigint();
      await lock.release();
      return { type: 'released', t0: t0.toString(), unqueued };
    }
    case 'release-final':
      await lock.release();
      return { type: 'released' };
    case 'exit':
      await lock?.close();
      process.disconnect();
      // Whatever a client library left running must not keep the process.
      setTimeout(() => process.exit(0), 2000).unref();
      return null;
    default:
      throw new Error(`unknown command ${m.cmd}`);
  }
}

// Commands run one at a time, in arrival order.
let chain = Promise.resolve();
process.on('message', (m) => {
  chain = chain.then(async () => {
    try {
      const reply = await handle(m);
      if (reply) process.send(reply);
    } catch (e) {
      process.send({ type: 'error', error: String(e?.stack ?? e) });
    }
  });
});
