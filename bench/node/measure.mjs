// Throughput measurements: each contender runs as several timed batches, interleaved with the
// other contenders of its table so that a slow spell of the disk (or of etcd's WAL) hits all of
// them alike, and the median batch is reported. The same approach as bench/python/measure.py.

/** Seconds since an arbitrary point, from the monotonic clock. */
export function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export class Batch {
  constructor(ops, seconds, indexDelta = null) {
    this.ops = ops;
    this.seconds = seconds;
    // Store index increments during the batch (how many commits wrote), where there is a store.
    this.indexDelta = indexDelta;
  }

  get rate() {
    return this.ops / this.seconds;
  }

  get timePerOp() {
    return this.seconds / this.ops;
  }

  toJSON() {
    return { ops: this.ops, seconds: this.seconds, ops_per_sec: this.rate, index_delta: this.indexDelta };
  }
}

/** The batches of one contender. */
export class Series {
  constructor(name) {
    this.name = name;
    this.batches = [];
  }

  medianRate() {
    return median(this.batches.map((b) => b.rate));
  }

  medianTimePerOp() {
    return median(this.batches.map((b) => b.timePerOp));
  }

  minMaxRate() {
    const rates = this.batches.map((b) => b.rate);
    return [Math.min(...rates), Math.max(...rates)];
  }

  indexPerOp() {
    if (this.batches.some((b) => b.indexDelta === null)) return null;
    const deltas = this.batches.reduce((s, b) => s + b.indexDelta, 0);
    return deltas / this.batches.reduce((s, b) => s + b.ops, 0);
  }

  toJSON() {
    return {
      name: this.name,
      median_ops_per_sec: this.medianRate(),
      median_us_per_op: this.medianTimePerOp() * 1e6,
      store_index_delta_per_op: this.indexPerOp(),
      batches: this.batches.map((b) => b.toJSON()),
    };
  }
}

/** A runner: `run(ops)` does `ops` operations and resolves to the seconds they took. */

/** `ops` times acquire() then release() on one lock object, as a user writes it. Works for
 * interlock's `Lock` and etcd3's `Lock` alike. */
export function lockUnlock(lock) {
  return async (ops) => {
    const start = now();
    for (let i = 0; i < ops; i++) {
      await lock.acquire();
      await lock.release();
    }
    return now() - start;
  };
}

/** redlock's form of the same loop: lock() resolves to a lock object that unlock()s. */
export function redlockUnlock(redlock, resource, ttlMs) {
  return async (ops) => {
    const start = now();
    for (let i = 0; i < ops; i++) {
      const held = await redlock.lock(resource, ttlMs);
      await held.unlock();
    }
    return now() - start;
  };
}

/** Compare-exchange puts on one key, each at the index the previous put returned (the same loop
 * as the core's side in bindings-node/src/bench.rs). */
export async function putLoop(db, key) {
  let index = (await db.get(key))?.index ?? 0;
  return async (ops) => {
    const start = now();
    for (let n = 0; n < ops; n++) {
      index = (await db.put(key, n, index)).index;
    }
    return now() - start;
  };
}

/** Warms `run` up and resolves to how many ops make a batch of about `batchS` seconds. */
export async function calibrate(run, batchS, maxOps) {
  let ops = 4;
  let seconds;
  for (;;) {
    seconds = await run(ops);
    if (seconds >= batchS / 2 || ops >= maxOps) break;
    ops *= 4;
  }
  return Math.max(1, Math.min(maxOps, Math.round((ops * batchS) / Math.max(seconds, 1e-9))));
}

async function timed(run, ops, db) {
  const before = db ? await db.index() : null;
  const seconds = await run(ops);
  const delta = db ? (await db.index()) - before : null;
  return new Batch(ops, Math.max(seconds, 1e-9), delta);
}

export class Contender {
  /** `db`: the interlock client whose store index to read around each batch, if any. */
  constructor(name, run, db = null) {
    this.name = name;
    this.run = run;
    this.db = db;
    this.ops = 0;
    this.series = new Series(name);
  }
}

/** Calibrates (and so warms up) every contender, then runs `batches` rounds of one batch of each,
 * rotating the order every round. With `sameOps`, every batch of every contender has the op count
 * calibrated for the first one. */
export async function interleave(contenders, batches, batchS, maxOps, sameOps = false) {
  for (const c of contenders) {
    c.ops = await calibrate(c.run, batchS, maxOps);
  }
  if (sameOps) {
    for (const c of contenders.slice(1)) c.ops = contenders[0].ops;
  }
  const n = contenders.length;
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < n; i++) {
      const c = contenders[(b + i) % n];
      c.series.batches.push(await timed(c.run, c.ops, c.db));
    }
  }
}
