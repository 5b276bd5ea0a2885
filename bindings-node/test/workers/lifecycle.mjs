// One process of the lifecycle matrix (lifecycle.test.mjs and the WebAssembly package's
// counterpart): connects with the package named by INTERLOCK_LIFECYCLE_PACKAGE (a module
// specifier or file URL; default `interlock`), takes lock NAME with TTL seconds (or, for the
// `*-waiting` scenarios, queues behind its current holder), prints `ready` and then ends the way
// SCENARIO says:
//   close            awaits client.close(), prints `closed` and lets the event loop end
//   close-waiting    (waiting) closes the client while its acquire is pending; prints the error
//   gc               drops every reference to the held lock, runs the garbage collector (needs
//                    --expose-gc), prints `collected` and stays alive until stdin closes
//   end              lets the event loop end while holding the lock (no close, no release)
//   end-waiting      (waiting) waits with a 1 s timeout, prints the error's code, then ends
//   throw            throws an uncaught exception while holding the lock
//   reject           leaves a rejected promise unhandled while holding the lock
//   exit             calls process.exit(3) while holding the lock
//   exit-waiting     (waiting) calls process.exit(3) while its acquire is pending
//   idle             holds the lock and stays alive (stdin is read) until a signal ends it
//   idle-waiting     (waiting) stays in the queue until a signal ends it
// Usage: node lifecycle.mjs URL NAME TTL SCENARIO
const [url, name, ttlText, scenario] = process.argv.slice(2);
const { connect } = await import(process.env.INTERLOCK_LIFECYCLE_PACKAGE || 'interlock-db');

const db = await connect(url);
const waiting = scenario.endsWith('-waiting');

/** Resolves once this client's waiter entry is in the queue behind the holder. */
async function queued() {
  for (;;) {
    const queue = await db.lockQueue(name);
    if (queue.length >= 2) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Keeps the process alive until stdin ends (the parent kills the process before). */
function stayAlive() {
  process.stdin.resume();
}

if (scenario === 'gc') {
  // The lock object is made, acquired and dropped inside this function: nothing refers to it
  // once it returns.
  await (async () => {
    await db.lock(name, { ttl: Number(ttlText) }).acquire();
  })();
  console.log('ready');
  for (let i = 0; i < 5; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log('collected');
  stayAlive();
} else if (waiting) {
  const lock = db.lock(name, { ttl: Number(ttlText) });
  const timeout = scenario === 'end-waiting' ? 1 : undefined;
  const pending = lock.acquire(timeout === undefined ? {} : { timeout });
  pending.catch((e) => console.log(`acquire failed: ${e.code}: ${e.message}`));
  await queued();
  console.log('ready');
  if (scenario === 'close-waiting') {
    await db.close();
    await pending.catch(() => undefined);
    console.log('closed');
  } else if (scenario === 'exit-waiting') {
    process.exit(3);
  } else if (scenario === 'idle-waiting') {
    stayAlive();
  } else if (scenario !== 'end-waiting') {
    throw new Error(`unknown scenario ${scenario}`);
  }
} else {
  const lock = db.lock(name, { ttl: Number(ttlText) });
  const token = await lock.acquire();
  console.log(`ready ${token}`);
  switch (scenario) {
    case 'close':
      await db.close();
      console.log(`closed; lost: ${lock.lost}`);
      break;
    case 'end':
      break;
    case 'throw':
      throw new Error('the worker failed while holding the lock');
    case 'reject':
      Promise.reject(new Error('an unhandled rejection while holding the lock'));
      break;
    case 'exit':
      process.exit(3);
      break;
    case 'idle':
      stayAlive();
      break;
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}
