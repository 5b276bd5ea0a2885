// The native module of the WebAssembly package: the wasm-bindgen classes, loaded on first use,
// with the same exports as the Node package's native module (its `native.d.ts` is this file's
// type), so that the same TypeScript layer is the public API of both packages.
import init, * as wasm from './interlock_wasm.js';

let loading;

/** Instantiates the module once: fetched in a browser, read from disk in Node. */
function load() {
  loading ??= (async () => {
    const url = new URL('./interlock_wasm_bg.wasm', import.meta.url);
    if (url.protocol === 'file:') {
      const { readFile } = await import('node:fs/promises');
      await init({ module_or_path: await readFile(url) });
    } else {
      await init({ module_or_path: url });
    }
    // wasm-bindgen takes ownership of a class instance passed as an optional argument; hand
    // `lock` a second handle on the lease so the caller's stays usable.
    const lock = wasm.Client.prototype.lock;
    wasm.Client.prototype.lock = function (name, ttlSecs, owner, lease) {
      return lock.call(this, name, ttlSecs, owner ?? undefined, lease == null ? undefined : lease.share());
    };
  })();
  return loading;
}

function invalid(message) {
  return new Error(`interlock-error:${JSON.stringify({ kind: 'InvalidArgument', message })}`);
}

/** The URL `connect()` uses when given none: `INTERLOCK_URL` where there is an environment, else
 * the page's own server (a page served by `interlock serve`). */
export function defaultUrl() {
  const env = typeof process === 'undefined' ? undefined : process.env.INTERLOCK_URL;
  if (env && env.trim() !== '') {
    return env;
  }
  const origin = globalThis.location?.origin;
  if (typeof origin === 'string' && /^https?:\/\//.test(origin)) {
    return origin;
  }
  throw invalid('no store URL: give an interlock server as http://HOST:PORT, or mem://NAME, or set INTERLOCK_URL');
}

export async function connect(url, token) {
  await load();
  return wasm.connect(url ?? defaultUrl(), token ?? undefined);
}

export async function benchCore(url, op, ops) {
  await load();
  return wasm.benchCore(url, op, ops);
}

// The classes exist before the module is instantiated; only their methods need it (and these
// functions, which are only called with a client, so after `connect` loaded it).
export { Client, Lease, Lock, Session, Txn, Watch, checkRetryAttempts, retryDelay } from './interlock_wasm.js';
