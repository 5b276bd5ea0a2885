// A worker process of the scenario tests (scenarios.test.mjs), started with child_process.fork:
// `node scenario.mjs ROLE JSON-ARGS`. It connects on its own, plays its role, and sends
// `{ type: 'result', value }` (or `{ type: 'error', stack }`) to the parent. Points where workers
// must act together go through the parent: `barrier(name)` returns once every worker of the run
// has reached it, `signal(name)` / `waitFor(name)` are a one-shot event.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, ConcurrencyError, InterlockError } from 'interlock-db';

const pending = new Map();
process.on('message', (m) => {
  if (m.type === 'go') {
    pending.get(m.name)?.();
    pending.delete(m.name);
  }
});

function expect(name, request) {
  return new Promise((resolve) => {
    pending.set(name, resolve);
    process.send(request);
  });
}

const barrier = (name) => expect(name, { type: 'barrier', name });
const waitFor = (name) => expect(name, { type: 'waitFor', name });
const signal = (name) => process.send({ type: 'signal', name });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Busy-waits `us` microseconds: timers cannot wait less than 1 ms. */
function spin(us) {
  const end = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < end);
}

/** mulberry32: a seeded generator, so a failing run can be replayed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const roles = {
  /** Zero setup: connects to a fresh store each round, at the same moment as the others. */
  async connectToNewStores({ directory, rounds }) {
    const errors = [];
    for (let n = 0; n < rounds; n++) {
      await barrier(`round-${n}`);
      try {
        const db = await connect(`sqlite://${directory}/round-${n}.db`);
        await db.set(`started/${process.pid}`, true);
        await db.close();
      } catch (e) {
        if (!(e instanceof InterlockError)) throw e;
        errors.push(`round ${n}: ${e.name}: ${e.message}`);
      }
    }
    return errors;
  },

  /** 1. Lock-protected read-modify-write of a plain file: [fencing token, value seen]. */
  async incrementFile({ url, counter, rounds }) {
    const db = await connect(url);
    const seen = [];
    await barrier('start');
    for (let n = 0; n < rounds; n++) {
      await db.withLock('counter', { ttl: 10 }, async (held) => {
        const value = Number(readFileSync(counter, 'utf8'));
        await sleep(1); // widen the window a missing exclusion would show in
        writeFileSync(counter, String(value + 1));
        seen.push([held.fencingToken, value]);
      });
    }
    await db.close();
    return seen;
  },

  /** 1. Takes the printer lock and holds it until the test kills this process. */
  async holdUntilKilled({ url }) {
    const db = await connect(url);
    const lock = db.lock('printer/first-floor', { ttl: 2, owner: 'doomed holder' });
    const token = await lock.acquire();
    process.send({ type: 'held', token });
    await new Promise(() => setInterval(() => {}, 60_000));
  },

  /** 1. Waits for the printer lock, reports it, releases it when told to. */
  async waitForLock({ url }) {
    const db = await connect(url);
    const lock = db.lock('printer/first-floor', { ttl: 20, owner: 'patient waiter' });
    const token = await lock.acquire({ timeout: 60 });
    process.send({ type: 'acquired', token });
    await waitFor('done');
    await lock.release();
    await db.close();
    return token;
  },

  /** 2. Races the others to reserve the address. */
  async reserve({ url, who }) {
    const db = await connect(url);
    await barrier('start');
    const r = await db.put('emails/a@b.c', `users/${who}`, 0);
    await db.close();
    return { who, successful: r.successful, index: r.index, value: r.value };
  },

  /** 3. Marks each job started (create-if-absent) and starts it only if the mark was new;
   * returns, for each job this process did not start, who did. */
  async handleNotifications({ url, who, jobs, log }) {
    const db = await connect(url);
    const skipped = {};
    for (let job = 0; job < jobs; job++) {
      await barrier(`job-${job}`);
      if (who === 'duplicate') spin(100); // the duplicate arrives 0.1 ms later
      const r = await db.put(`jobs/${job}/started`, { by: who }, 0);
      if (r.successful) {
        appendFileSync(log, `${job} ${who}\n`);
      } else {
        skipped[job] = r.value.by;
      }
    }
    await db.close();
    return skipped;
  },

  /** 4. Loads the record with the other writer, edits it, saves; the second to save reloads,
   * reapplies and saves again. */
  async editRecord({ url, who }) {
    const db = await connect(url);
    const session = db.session();
    const doc = await session.load('records/1');
    const loaded = session.loadedIndex('records/1');
    await barrier('loaded'); // both writers hold the same version
    if (who === 'first') {
      doc.title = 'retitled by first';
      const saved = await session.saveChanges();
      signal('first-saved');
      await db.close();
      return { loaded, saved };
    }
    await waitFor('first-saved');
    doc.tags.push('second');
    let error = null;
    try {
      await session.saveChanges();
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
      error = { name: e.name, code: e.code, message: e.message, conflicts: e.conflicts };
    }
    if (error === null) {
      await db.close();
      return { loaded, error };
    }
    const again = db.session();
    (await again.load('records/1')).tags.push('second');
    const retried = await again.saveChanges();
    await db.close();
    return { loaded, error, retried };
  },

  /** 5. Random transfers that never overdraw, each retried on conflict; returns
   * [index, source, destination, amount] of every committed one. */
  async transferMoney({ url, seed, transfers, accounts }) {
    const db = await connect(url);
    const rnd = random(seed);
    const committed = [];
    await barrier('start');
    for (let n = 0; n < transfers; n++) {
      const src = Math.floor(rnd() * accounts);
      const dst = (src + 1 + Math.floor(rnd() * (accounts - 1))) % accounts;
      const amount = 1 + Math.floor(rnd() * 80);
      const index = await db.retry(async () => {
        const s = db.session();
        const loaded = await s.loadMany([`accounts/${src}`, `accounts/${dst}`]);
        const a = loaded.get(`accounts/${src}`);
        const b = loaded.get(`accounts/${dst}`);
        if (a.funds < amount) return null; // the rule refuses; nothing to write
        a.funds -= amount;
        b.funds += amount;
        return s.saveChanges();
      }, { attempts: 200 });
      if (index !== null) committed.push([index, src, dst, amount]);
    }
    await db.close();
    return committed;
  },
};

const [role, args] = process.argv.slice(2);
try {
  const value = await roles[role](JSON.parse(args));
  process.send({ type: 'result', value }, () => process.disconnect());
} catch (e) {
  process.send({ type: 'error', stack: e?.stack ?? String(e) }, () => process.exit(1));
}
