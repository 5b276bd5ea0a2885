// Starting worker processes (child_process.fork of workers/scenario.mjs) and coordinating them.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How long eventual things (workers starting, a lease expiring) may take, in ms. */
export const DEADLINE = 30_000;

const SCRIPT = fileURLToPath(new URL('./scenario.mjs', import.meta.url));

/** One worker process playing `role`. Its messages are read with `next(type)`; it is killed by
 * `kill()`, and every worker still running when a test ends is killed by `killAll()`. */
export class Worker {
  static running = new Set();

  constructor(role, args) {
    this.role = role;
    this.stderr = '';
    this.messages = [];
    this.waiters = [];
    this.child = fork(SCRIPT, [role, JSON.stringify(args)], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.pid = this.child.pid;
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d) => { this.stderr += d; });
    this.child.on('message', (m) => this.deliver(m));
    // A message to a worker that has just died fails; its exit shows in `next()`.
    this.child.on('error', () => {});
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': by then every message the worker sent has been delivered.
      this.child.on('close', (code, signal) => {
        Worker.running.delete(this);
        resolve({ code, signal });
        this.deliver({ type: 'exit', code, signal });
      });
    });
    Worker.running.add(this);
  }

  deliver(m) {
    const i = this.waiters.findIndex((w) => w.types.includes(m.type));
    if (i >= 0) {
      this.waiters.splice(i, 1)[0].resolve(m);
    } else {
      this.messages.push(m);
    }
  }

  /** The next message of one of `types` (an error or an exit of the worker fails it). */
  async next(...types) {
    const wanted = [...types, 'error', 'exit'];
    const i = this.messages.findIndex((m) => wanted.includes(m.type));
    const m = i >= 0 ? this.messages.splice(i, 1)[0] : await this.waitFor(wanted);
    if (!types.includes(m.type)) {
      throw new Error(`worker ${this.role} (pid ${this.pid}) ${m.type === 'error'
        ? `failed:\n${m.stack}` : `exited (code ${m.code}, signal ${m.signal})`} while ${
        this.role} was expected to send ${types.join(' or ')}\nstderr:\n${this.stderr}`);
    }
    return m;
  }

  waitFor(types) {
    return new Promise((resolve, reject) => {
      const waiter = { types, resolve };
      this.waiters.push(waiter);
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`worker ${this.role} (pid ${this.pid}) sent no ${types[0]} within ${
          DEADLINE} ms\nstderr:\n${this.stderr}`));
      }, DEADLINE);
      waiter.resolve = (m) => { clearTimeout(timer); resolve(m); };
    });
  }

  send(m) {
    if (this.child.connected) this.child.send(m);
  }

  kill(signal = 'SIGKILL') {
    this.child.kill(signal);
    return this.exited;
  }

  static async killAll() {
    await Promise.all([...Worker.running].map((w) => w.kill()));
  }
}

/** Runs each `[role, args]` of `jobs` in a process of its own, all at once, and resolves to their
 * results in job order. `barrier(name)` in a worker returns once every one of them has reached
 * it; `signal(name)` releases every `waitFor(name)`, before or after. A worker that fails, hangs
 * or exits badly fails the run, and every worker is killed. */
export async function runWorkers(jobs) {
  const workers = jobs.map(([role, args]) => new Worker(role, args));
  const arrived = new Map();
  const signalled = new Set();
  const awaiting = new Map();
  const go = (w, name) => w.send({ type: 'go', name });
  try {
    return await Promise.all(workers.map(async (w) => {
      for (;;) {
        const m = await w.next('barrier', 'waitFor', 'signal', 'result');
        if (m.type === 'result') {
          const { code, signal } = await w.exited;
          if (code !== 0) {
            throw new Error(`worker ${w.role} exited with ${code ?? signal}\n${w.stderr}`);
          }
          return m.value;
        }
        if (m.type === 'barrier') {
          const at = [...(arrived.get(m.name) ?? []), w];
          arrived.set(m.name, at);
          if (at.length === workers.length) at.forEach((x) => go(x, m.name));
        } else if (m.type === 'signal') {
          signalled.add(m.name);
          (awaiting.get(m.name) ?? []).forEach((x) => go(x, m.name));
        } else if (signalled.has(m.name)) {
          go(w, m.name);
        } else {
          awaiting.set(m.name, [...(awaiting.get(m.name) ?? []), w]);
        }
      }
    }));
  } finally {
    await Promise.all(workers.map((w) => (w.child.exitCode === null && w.child.signalCode === null
      ? w.kill() : w.exited)));
  }
}
