// Contended handoff latency between two processes: the time from "the holder is about to call
// release()" to "the waiter's acquire() resolved". The same protocol as bench/python/handoff.py,
// with the parent relaying the steps over IPC instead of shared semaphores.
//
// Two forked processes play ping-pong with one lock. In each round the waiter announces that it
// is calling acquire(); the parent passes that on to the holder, which waits (for interlock) until
// the waiter is in the lock's queue, sleeps 5 ms more so the waiter is really blocked, plus a
// random 0 to P seconds (P: the contender's poll period, 0 for interlock, which spreads releases
// evenly over a polling waiter's cycle), reads process.hrtime.bigint() and releases. The waiter
// reads the clock right after its acquire() resolved. The IPC messages are sent only outside that
// interval.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./handoff-worker.mjs', import.meta.url));
// How long the parent waits for one step of a worker before giving up on the run.
const STEP_TIMEOUT_MS = 60_000;

export class Result {
  constructor(spec) {
    this.spec = spec;
    this.samplesNs = [];
    this.seconds = 0;
    this.error = null;
    // Rounds in which an interlock holder did not see the waiter queued before releasing.
    this.unqueued = 0;
  }

  /** Nearest-rank percentile, in nanoseconds. */
  percentile(q) {
    if (this.samplesNs.length === 0) return null;
    const xs = [...this.samplesNs].sort((a, b) => a - b);
    const rank = Math.max(1, Math.ceil((xs.length * q) / 100));
    return xs[rank - 1];
  }

  toJSON() {
    const us = (ns) => (ns === null ? null : ns / 1e3);
    const n = this.samplesNs.length;
    return {
      key: this.spec.key,
      label: this.spec.label,
      kind: this.spec.kind,
      poll_s: this.spec.pollS,
      samples: n,
      p50_us: us(this.percentile(50)),
      p90_us: us(this.percentile(90)),
      p99_us: us(this.percentile(99)),
      max_us: n ? us(Math.max(...this.samplesNs)) : null,
      mean_us: n ? us(this.samplesNs.reduce((a, b) => a + b, 0) / n) : null,
      seconds: this.seconds,
      error: this.error,
      rounds_without_queued_waiter: this.unqueued,
      samples_us: this.samplesNs.map((s) => s / 1e3),
    };
  }
}

/** A worker process and the messages it sent, taken in order. */
class Worker {
  constructor(name) {
    this.name = name;
    this.inbox = [];
    this.wake = null;
    this.exited = null;
    this.child = fork(WORKER, [], { stdio: ['ignore', 2, 2, 'ipc'] });
    this.child.on('message', (m) => {
      this.inbox.push(m);
      this.wake?.();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = signal ?? `exit code ${code}`;
      this.wake?.();
    });
  }

  send(cmd, extra = {}) {
    this.child.send({ cmd, ...extra });
  }

  /** The next message, which must be of `type`. */
  async next(type) {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (this.inbox.length === 0) {
      if (this.exited !== null) throw new Error(`${this.name} ended (${this.exited}) before '${type}'`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no '${type}' within ${STEP_TIMEOUT_MS / 1000} s`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    const m = this.inbox.shift();
    if (m.type === 'error') throw new Error(`${this.name} failed: ${m.error}`);
    if (m.type !== type) throw new Error(`${this.name}: expected '${type}', got '${m.type}'`);
    return m;
  }

  async stop() {
    if (this.exited === null) {
      try {
        if (this.child.connected) this.send('exit');
      } catch {
        // already gone
      }
      const gone = new Promise((resolve) => this.child.once('exit', resolve));
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
  }
}

/** `rounds` handoffs between two forked processes; `prepare()` clears the lock first. */
export async function run(spec, rounds, prepare) {
  const result = new Result(spec);
  const started = Date.now();
  try {
    await prepare();
  } catch (e) {
    result.error = `setup failed: ${e}`;
    return result;
  }
  const workers = [new Worker(`${spec.key} worker 0`), new Worker(`${spec.key} worker 1`)];
  const samples = [];
  try {
    for (const w of workers) w.send('init', { spec });
    for (const w of workers) await w.next('ready');
    workers[0].send('acquire');
    await workers[0].next('acquired');
    for (let r = 0; r < rounds; r++) {
      const holder = workers[r % 2];
      const waiter = workers[(r + 1) % 2];
      waiter.send('wait');
      await waiter.next('announced');
      holder.send('release');
      const released = await holder.next('released');
      const acquired = await waiter.next('acquired');
      if (released.unqueued) result.unqueued += 1;
      samples.push(Number(BigInt(acquired.t1) - BigInt(released.t0)));
    }
    workers[rounds % 2].send('release-final');
    await workers[rounds % 2].next('released');
  } catch (e) {
    result.error = String(e.message ?? e);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  result.seconds = (Date.now() - started) / 1000;
  if (result.error === null) {
    result.samplesNs = samples;
    if (samples.some((s) => s <= 0)) result.error = 'non-positive latency sample (clock or protocol error)';
  }
  return result;
}
