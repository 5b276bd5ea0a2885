// The cells of the lifecycle matrix, shared by the Node package's suite (lifecycle.test.mjs) and
// the WebAssembly package's (bindings-wasm/test/lifecycle.test.mjs). Each cell starts real
// processes (workers/lifecycle.mjs) that hold or wait for a lock on a real store and end in one
// way, and checks what a user relies on: the exit status, no Rust panic on stderr, that the
// process ends by itself where it should, and that another client gets the lock (or sees the
// waiter gone) within a stated time: far below the TTL on clean paths, within the TTL (plus the
// store's expiry slack) when the process is killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WORKER = fileURLToPath(new URL('./workers/lifecycle.mjs', import.meta.url));

/** The TTL of clean-path cells, and how soon their lock must free: far below it. */
export const LONG_TTL = 60;
export const CLEAN_WITHIN = 5;
/** The TTL of crash cells; the lock must free within it plus the slack of lease expiry. */
export const SHORT_TTL = 3;
export const EXPIRY_SLACK = 3;
/** Runs of each cell where a process exits or is killed (INTERLOCK_LIFECYCLE_RUNS). */
export const RUNS = Number(process.env.INTERLOCK_LIFECYCLE_RUNS || 50);

let names = 0;

/** A lock name no other run uses. */
export function lockName(cell) {
  return `lifecycle/${cell}/${process.pid}-${names++}`;
}

/** Starts a worker; `ready` resolves with its `ready…` line, `done` with how it ended. A worker
 * that has not ended `limit` seconds after it started is killed and reported as hung. */
export function worker({ url, name, ttl, scenario, env = {}, nodeArgs = [], limit = 60 }) {
  const child = spawn(process.execPath, [...nodeArgs, WORKER, url, name, String(ttl), scenario], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  let onReady;
  let onFailedStart;
  const waits = [];
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    onFailedStart = reject;
  });
  child.stdout.on('data', (d) => {
    stdout += d;
    const line = stdout.split('\n').find((l) => l.startsWith('ready'));
    if (line !== undefined) onReady(line);
    for (const w of waits) if (w.pattern.test(stdout)) w.resolve();
  });
  child.stderr.on('data', (d) => { stderr += d; });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, limit * 1000);
  const done = new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      onFailedStart(new Error(`the worker (${scenario}) ended before it was ready (${code ?? signal}):\n${stderr}`));
      resolve({ code, signal, stdout, stderr, hung });
    });
  });
  /** Resolves once stdout matches `pattern`. */
  const printed = (pattern) => new Promise((resolve, reject) => {
    if (pattern.test(stdout)) return resolve();
    waits.push({ pattern, resolve });
    done.then(() => reject(new Error(`the worker ended without printing ${pattern}:\n${stdout}${stderr}`)));
  });
  return { child, ready, done, printed };
}

/** No Rust panic or backtrace reached stderr. */
export function assertNoPanic(result, what) {
  assert.doesNotMatch(result.stderr, /panicked|RUST_BACKTRACE|stack backtrace|task .* panicked/,
    `${what}: a Rust panic on stderr:\n${result.stderr}`);
}

/** Another client (`db`) gets lock `name` within `seconds`, and lets it go. */
export async function assertFreedWithin(db, name, seconds, what) {
  const lock = db.lock(name, { ttl: LONG_TTL });
  try {
    await lock.acquire({ timeout: seconds });
  } catch (e) {
    const queue = await db.lockQueue(name).catch(() => 'unreadable');
    assert.fail(`${what}: lock '${name}' was not free within ${seconds} s (${e.code}); queue: ${JSON.stringify(queue)}`);
  }
  await lock.release();
}

/** Waits until lock `name`'s queue is just `holderToken`, for at most `seconds`. */
export async function assertQueueBackTo(db, name, holderToken, seconds, what) {
  const until = Date.now() + seconds * 1000;
  let queue;
  for (;;) {
    queue = await db.lockQueue(name);
    if (queue.length === 1 && queue[0].token === holderToken) return;
    if (Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what}: the waiter of '${name}' was still queued after ${seconds} s: ${JSON.stringify(queue)}`);
}

/** Runs `run(i)` for i < n, `concurrency` at a time; every failure is reported. */
export async function repeat(n, concurrency, run) {
  let next = 0;
  const failures = [];
  const lanes = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      try {
        await run(i);
      } catch (e) {
        failures.push(`run ${i}: ${e.message}`);
      }
    }
  });
  await Promise.all(lanes);
  assert.deepEqual(failures, [], `${failures.length} of ${n} runs failed`);
}

/** A worker that holds `name` (or waits behind `db`'s holder) and ends by `scenario`; checks its
 * exit and that the lock, or its waiter entry, is gone within the cell's bound. */
export async function exitCell({ db, url, env, nodeArgs, scenario, expect, cell }) {
  const waiting = scenario.endsWith('-waiting');
  const name = lockName(cell);
  const ttl = expect.signal ? SHORT_TTL : (expect.ttl ?? LONG_TTL);
  let holder;
  let holderToken;
  if (waiting) {
    holder = db.lock(name, { ttl: LONG_TTL });
    holderToken = await holder.acquire();
  }
  const w = worker({ url, name, ttl, scenario, env, nodeArgs });
  await w.ready;
  if (expect.signal) {
    w.child.kill(expect.signal);
  }
  const result = await w.done;
  const what = `${cell} (${scenario})`;
  assert.equal(result.hung, false, `${what}: the process did not end by itself:\n${result.stdout}${result.stderr}`);
  if (expect.signal) {
    assert.equal(result.signal, expect.signal, `${what}: ended by ${result.code ?? result.signal}`);
  } else {
    assert.equal(result.code, expect.code, `${what}: exit status ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  assertNoPanic(result, what);
  if (expect.stdout) assert.match(result.stdout, expect.stdout, what);
  if (expect.stderr) assert.match(result.stderr, expect.stderr, what);
  const within = expect.signal || expect.ttl ? ttl + EXPIRY_SLACK : CLEAN_WITHIN;
  if (waiting) {
    await assertQueueBackTo(db, name, holderToken, within, what);
    await holder.release();
  } else {
    await assertFreedWithin(db, name, within, what);
  }
}

/** A worker closes its client while holding the lock: the process ends by itself, it saw the lock
 * lost, and the lock frees at once. */
export async function closeWhileHolding({ db, url, env, cell }) {
  const name = lockName(cell);
  const w = worker({ url, name, ttl: LONG_TTL, scenario: 'close', env });
  await w.ready;
  const r = await w.done;
  assert.equal(r.hung, false, 'the process ended by itself after close()');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /closed; lost: true/);
  assertNoPanic(r, 'close');
  await assertFreedWithin(db, name, CLEAN_WITHIN, 'close while holding');
}

/** A worker closes its client while waiting behind `db`'s holder: its acquire rejects, the process
 * ends by itself, and its waiter entry is gone when it has. */
export async function closeWhileWaiting({ db, url, env, cell }) {
  const name = lockName(cell);
  const holder = db.lock(name, { ttl: LONG_TTL });
  const token = await holder.acquire();
  const w = worker({ url, name, ttl: LONG_TTL, scenario: 'close-waiting', env });
  await w.ready;
  const r = await w.done;
  assert.equal(r.hung, false, 'the process ended by itself after close()');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /acquire failed: ERR_INVALID_ARGUMENT: .*closed/);
  assertNoPanic(r, 'close while waiting');
  assert.deepEqual((await db.lockQueue(name)).map((q) => q.token), [token]);
  await holder.release();
}
