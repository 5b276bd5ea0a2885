// The five problems (docs/design.md, The five problems) with real worker processes
// (child_process.fork) sharing one SQLite file: lock-protected increments and a SIGKILLed holder, a
// unique reservation race, duplicate notifications, concurrent edits of one record and transfers
// between accounts.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'interlock-db';
import { DEADLINE, Worker, runWorkers } from './workers/run.mjs';

afterEach(() => Worker.killAll());

/** A fresh directory, and the parent's client of a SQLite store in it, made (so the file exists)
 * before any worker starts; processes that all start on a new file are tested on their own. */
async function store() {
  const dir = mkdtempSync(join(tmpdir(), 'interlock-node-scenario-'));
  const url = `sqlite://${join(dir, 'store.db')}`;
  return { dir, url, db: await connect(url) };
}

async function eventually(check, what) {
  const start = Date.now();
  while (!(await check())) {
    assert.ok(Date.now() - start < DEADLINE, `${what} did not happen within ${DEADLINE} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('processes starting at once on a new store all connect', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'interlock-node-new-'));
  const processes = 5;
  const rounds = 30;
  const errors = await runWorkers(Array(processes).fill(['connectToNewStores', { directory: dir, rounds }]));
  assert.deepEqual(errors.flat(), [], 'failed connects');
  for (let n = 0; n < rounds; n++) {
    const db = await connect(`sqlite://${dir}/round-${n}.db`);
    assert.equal((await db.list('started/')).entries.length, processes);
    await db.close();
  }
});

test('1. lock-protected increments of a file lose nothing, tokens increase', async () => {
  const { dir, url, db } = await store();
  const processes = 4;
  const rounds = 20;
  const counter = join(dir, 'counter.txt');
  writeFileSync(counter, '0');
  const seen = await runWorkers(Array(processes).fill(['incrementFile', { url, counter, rounds }]));
  assert.equal(Number(readFileSync(counter, 'utf8')), processes * rounds);
  // Every value 0..N*M-1 was seen exactly once, and in the order the lock was granted, the
  // fencing tokens strictly increase.
  const byValue = seen.flat().sort((a, b) => a[1] - b[1]);
  assert.deepEqual(byValue.map(([, value]) => value), [...Array(processes * rounds).keys()]);
  for (let i = 1; i < byValue.length; i++) {
    assert.ok(byValue[i - 1][0] < byValue[i][0], `token ${byValue[i][0]} after ${byValue[i - 1][0]}`);
  }
  assert.deepEqual(await db.lockQueue('counter'), []);
  await db.close();
});

test('1. a waiter gets the lock after a SIGKILLed holder\'s TTL, in queue order', async () => {
  const { url, db } = await store();
  const holder = new Worker('holdUntilKilled', { url });
  const { token: heldToken } = await holder.next('held');
  const waiter = new Worker('waitForLock', { url });
  await eventually(async () => (await db.lockQueue('printer/first-floor')).length === 2,
    'the waiter queueing');
  const before = await db.lockQueue('printer/first-floor');
  assert.equal(before[0].holder, true);
  assert.equal(before[0].token, heldToken);
  assert.equal(before[0].owner.owner, 'doomed holder');
  assert.equal(before[1].holder, false);
  assert.equal(before[1].owner.owner, 'patient waiter');

  assert.deepEqual(await holder.kill('SIGKILL'), { code: null, signal: 'SIGKILL' });
  const { token } = await waiter.next('acquired');
  assert.ok(token > heldToken);
  const after = await db.lockQueue('printer/first-floor');
  assert.deepEqual(after.map((w) => [w.holder, w.token]), [[true, token]]);
  assert.equal(after[0].owner.owner, 'patient waiter');

  // The waiter asks to wait for 'done' right after it acquires; let it release.
  await waiter.next('waitFor');
  waiter.send({ type: 'go', name: 'done' });
  assert.equal((await waiter.next('result')).value, token);
  assert.deepEqual(await waiter.exited, { code: 0, signal: null });
  assert.deepEqual(await db.lockQueue('printer/first-floor'), []);
  await db.close();
});

test('2. a reservation race has exactly one winner; the others learn who owns it', async () => {
  const { url, db } = await store();
  const processes = 6;
  const outcomes = await runWorkers([...Array(processes).keys()].map((who) => ['reserve', { url, who }]));
  const winners = outcomes.filter((o) => o.successful);
  assert.equal(winners.length, 1, JSON.stringify(outcomes));
  const [{ who, index, value }] = winners;
  assert.equal(value, `users/${who}`);
  for (const o of outcomes.filter((x) => !x.successful)) {
    assert.deepEqual([o.index, o.value], [index, value], `user ${o.who} saw another owner`);
  }
  assert.deepEqual(await db.get('emails/a@b.c'), { key: 'emails/a@b.c', value, index });
  await db.close();
});

test('3. duplicate notifications 0.1 ms apart start each job once', async () => {
  const { dir, url, db } = await store();
  const jobs = 30;
  const log = join(dir, 'started.log');
  writeFileSync(log, '');
  const whos = ['original', 'duplicate'];
  const skipped = await runWorkers(whos.map((who) => ['handleNotifications', { url, who, jobs, log }]));
  const started = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
  assert.deepEqual(started.map(([job]) => Number(job)).sort((a, b) => a - b), [...Array(jobs).keys()],
    'a job started twice or never');
  const starter = Object.fromEntries(started);
  whos.forEach((who, i) => {
    for (const [job, by] of Object.entries(skipped[i])) {
      assert.equal(by, starter[job]);
      assert.notEqual(by, who);
    }
  });
  // Every job was either started or skipped by each of the two processes.
  for (let job = 0; job < jobs; job++) {
    assert.notEqual(job in skipped[0], job in skipped[1]);
  }
  await db.close();
});

test('4. the second of two concurrent edits fails with the expected and actual index', async () => {
  const { url, db } = await store();
  const initial = await db.set('records/1', { title: 'draft', tags: [] });
  const [first, second] = await runWorkers(['first', 'second'].map((who) => ['editRecord', { url, who }]));
  assert.equal(first.loaded, initial);
  assert.equal(second.loaded, initial);
  assert.ok(first.saved > initial);
  assert.notEqual(second.error, null, 'the second save silently overwrote the first');
  assert.equal(second.error.name, 'ConcurrencyError');
  assert.equal(second.error.code, 'ERR_CONCURRENCY');
  assert.deepEqual(second.error.conflicts, [{ key: 'records/1', expected: initial, actual: first.saved }]);
  assert.match(second.error.message, /records\/1/);
  assert.ok(second.retried > first.saved);
  assert.deepEqual(await db.get('records/1'), {
    key: 'records/1', value: { title: 'retitled by first', tags: ['second'] }, index: second.retried,
  });
  await db.close();
});

test('5. transfers conserve money, never overdraw, and lose no update', async () => {
  const { url, db } = await store();
  const accounts = 5;
  const opening = 100;
  const txn = db.txn();
  for (let n = 0; n < accounts; n++) txn.set(`accounts/${n}`, { funds: opening });
  await txn.commit();
  const processes = 4;
  const logs = await runWorkers([...Array(processes).keys()].map((seed) =>
    ['transferMoney', { url, seed: seed + 1, transfers: 20, accounts }]));
  const funds = [];
  for (let n = 0; n < accounts; n++) funds.push((await db.get(`accounts/${n}`)).value.funds);
  assert.equal(funds.reduce((a, b) => a + b), accounts * opening);
  assert.ok(Math.min(...funds) >= 0);
  // Replaying the committed transfers in commit order gives exactly the final balances and never
  // overdraws on the way: no transfer was lost or applied to a stale balance.
  const committed = logs.flat().sort((a, b) => a[0] - b[0]);
  assert.ok(committed.length > 0, 'no transfer committed');
  assert.equal(new Set(committed.map(([index]) => index)).size, committed.length);
  const balances = Array(accounts).fill(opening);
  for (const [index, src, dst, amount] of committed) {
    balances[src] -= amount;
    balances[dst] += amount;
    assert.ok(balances[src] >= 0, `the transfer at index ${index} overdrew account ${src}`);
  }
  assert.deepEqual(balances, funds);
  await db.close();
});
