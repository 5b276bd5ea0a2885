/**
 * interlock for Node: compare-exchange values, leases, fair locks with fencing tokens, JSON
 * documents with optimistic concurrency and atomic transactions, on an embedded SQLite store
 * shared by every process on the host, an in-process store, or an etcd cluster.
 *
 * ```ts
 * import { connect } from 'interlock-db';
 * const db = await connect('sqlite:///var/lib/app/locks.db');
 * await db.withLock('printer/first-floor', { ttl: 20 }, async (held) => {
 *   await printJob({ fence: held.fencingToken });
 * });
 * ```
 *
 * Times are in seconds (`ttl`, `timeout`), as in every interlock package; indexes, versions and
 * fencing tokens are numbers (an index given may also be a bigint); lease ids are bigints
 * (etcd's are 64-bit integers, which a number would round). `null` and `undefined` both mean
 * "not given". The names are those of docs/vocabulary.md, the same in every interlock package.
 */

import * as native from './native.js';
import {
  AbortError,
  ConcurrencyError,
  InvalidArgumentError,
  LockLostError,
  call,
  callSync,
  fromNative,
} from './errors.js';
import { fromJson, loneSurrogate, toJson } from './json.js';

// The error classes; not the helpers errors.ts shares with this file (fromNative, call, callSync).
export {
  AbortError,
  ConcurrencyError,
  InterlockError,
  InternalError,
  InvalidArgumentError,
  LeaseExpiredError,
  LockLostError,
  LockTimeoutError,
  UnauthorizedError,
  UnavailableError,
} from './errors.js';
export type { Conflict } from './errors.js';

/** A stored key: its JSON value, the index of the write that last touched it, and its lease. */
export interface Entry<T = unknown> {
  /** The key. */
  key: string;
  /** The JSON value. */
  value: T;
  /** The index of the write that last touched the entry: its version and compare-exchange token. */
  index: number;
  /** The id of the lease the entry is attached to, if any: it is deleted when the lease ends. */
  lease?: bigint;
}

/** What `put` and `delete` return. On success the new index and value; on a failed compare the
 * current index (0: absent) and value, so the caller can decide and retry. */
export interface PutResult<T = unknown> {
  /** Whether the compare held and the write was made. */
  successful: boolean;
  /** On success the new index; otherwise the entry's current index (0: absent). */
  index: number;
  /** On success the value written; otherwise the entry's current value (`null`: absent). */
  value: T | null;
}

/** One change, in index order. */
export interface WatchEvent<T = unknown> {
  /** A write, or a deletion (also by a lease's expiry or revocation). */
  type: 'put' | 'delete';
  /** The key that changed. */
  key: string;
  /** The value written (`null` for a delete). */
  value: T | null;
  /** The index of the commit; resume after it with `fromIndex: index + 1`. */
  index: number;
}

/** One page of `list`. */
export interface Page<T = unknown> {
  /** The entries of this page, in key order. */
  entries: Entry<T>[];
  /** Whether more entries follow: ask again with `after` = the last key. */
  more: boolean;
}

/** The holder or a waiter of a lock, holder first. */
export interface LockWaiter {
  /** The waiter's own entry in the lock's queue (an `@lock/…` key). */
  key: string;
  /** The owner description the waiter gave (by default its process and host). */
  owner: unknown;
  /** The fencing token it holds, or will hold: the index of its waiter entry. */
  token: number;
  /** Whether this waiter holds the lock (the first in the queue). */
  holder: boolean;
  /** The id of the lease the waiter entry is on. */
  lease?: bigint;
  /** Seconds left on the waiter's lease. */
  ttlLeft?: number;
}

/** Options of `connect`. */
export interface ConnectOptions {
  /** Bearer token for an interlock server (`http://`); default `INTERLOCK_TOKEN`. */
  token?: string | null;
}

/** The options of `put` and `set`. */
export interface SetOptions {
  /** Attach the entry to this lease (a `Lease` or a lease id): it is deleted when the lease ends. */
  lease?: Lease | bigint | null;
}

/** Options of `delete`. */
export interface DeleteOptions {
  /** Delete only if the key is at this index (0: fails unless absent). */
  index?: number | bigint | null;
}

/** Options of `list`. */
export interface ListOptions {
  /** Start after this key. */
  after?: string | null;
  /** At most this many entries. */
  limit?: number | null;
}

/** Options of `waitLost`. */
export interface WaitLostOptions {
  /** Seconds to wait; resolves to false when they pass first. Default (or `Infinity`): no limit. */
  timeout?: number | null;
}

/** Options of a lock, given when `lock()` makes it. */
export interface LockOptions {
  /** Seconds a crashed holder blocks others (the lease TTL, default 20). */
  ttl?: number | null;
  /** The owner description other clients see in the queue. */
  owner?: string | null;
  /** Hold the lock on this lease instead of the client's shared one. */
  lease?: Lease | null;
}

/** Options of one wait for a lock (`acquire`). */
export interface AcquireOptions {
  /** Seconds to wait; on timeout the waiter is removed and the promise rejects with
   * `LockTimeoutError`. Default (or `Infinity`): wait forever. */
  timeout?: number | null;
  /** Cancels the wait: the waiter entry is removed and the promise rejects with `AbortError`. */
  signal?: AbortSignal | null;
}

/** Options of `withLock`: the lock's and its wait's. */
export type WithLockOptions = LockOptions & AcquireOptions;

/** Options of `watch`. */
export interface WatchOptions {
  /** Start at this index (events with a greater or equal index); default: from now. */
  fromIndex?: number | bigint | null;
  /** Ends the iteration. */
  signal?: AbortSignal | null;
}

/** Options of `retry`. */
export interface RetryOptions {
  /** How many times to run `fn` at most (default 10). */
  attempts?: number | null;
}

/** Options of `session`. */
export interface SessionOptions {
  /** Check every saved key at its loaded index (default true). Off: last write wins. */
  optimistic?: boolean | null;
}

const DEFAULT_TTL = 20;

/** The longest duration any option takes: 9e9 s (about 285 years), the longest lease TTL. The
 * same bound for every host (a deadline that far ahead overflows some clocks, not others). */
const MAX_SECONDS = 9e9;

/** A time option in seconds, checked here so that the error names the option: a finite,
 * non-negative number up to {@link MAX_SECONDS}. */
function seconds(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative number of seconds, not ${describe(value)}`);
  }
  if (value > MAX_SECONDS) {
    throw new InvalidArgumentError(`${name} of ${value} s is too long: at most ${MAX_SECONDS} s (about 285 years)${name === 'timeout' ? '; omit it, or give Infinity, to wait without a limit' : ''}`);
  }
  return value;
}

/** A wait in seconds; absent, null or `Infinity`: no limit. */
function optionalSeconds(name: string, value: unknown): number | null {
  return value === undefined || value === null || value === Infinity ? null : seconds(name, value);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string '${value}'`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'bigint') return `${value}n (bigint)`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return describeObject(value);
  return `${String(value)} (${typeof value})`;
}

/** An object in a message: its constructor's name, or for a plain object a short JSON-ish
 * rendering (`{"a":1}`), never `[object Object]`. */
function describeObject(value: object): string {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? `a ${name}` : 'an object';
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) return 'an object';
  return `the object ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`;
}

/** An options argument: absent, or an object with no other keys than `known` (a misspelt
 * option would otherwise be ignored: `{ timout: 5 }` would wait forever). */
function optionsOf<T extends object>(what: string, value: T | null | undefined, known: readonly string[]): T {
  if (value === undefined || value === null) {
    return {} as T;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`the options of ${what} must be an object, not ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(`unknown option '${key}' of ${what} (known: ${known.join(', ')})`);
    }
  }
  return value;
}

const LOCK_OPTIONS = ['ttl', 'owner', 'lease'] as const;
const ACQUIRE_OPTIONS = ['timeout', 'signal'] as const;

/** A key argument: a well-formed string (the store checks its shape). A lone surrogate would
 * reach the store as U+FFFD, so two different strings would name one key: it is refused. */
function keyOf(what: string, key: unknown): string {
  if (typeof key !== 'string') {
    throw new InvalidArgumentError(`${what} must be a string, not ${describe(key)}`);
  }
  wellFormed(what, key);
  return key;
}

/** Refuses a string that is not valid Unicode (one with a lone UTF-16 surrogate). */
function wellFormed(what: string, text: string): void {
  const lone = loneSurrogate(text);
  if (lone) {
    throw new InvalidArgumentError(`${what} ${lone}`);
  }
}

/** An index argument: an integer from 0 to 2^53 - 1 (0: absent), a number or a bigint. */
function indexOf(what: string, index: unknown, low = 0): number {
  if (typeof index === 'bigint' && index >= BigInt(low) && index <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(index);
  }
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < low) {
    throw new InvalidArgumentError(`${what} must be an integer from ${low} to 2^53 - 1, not ${describe(index)}`);
  }
  return index;
}

function optionalIndexOf(what: string, index: unknown, low = 0): number | null {
  return index === undefined || index === null ? null : indexOf(what, index, low);
}

/** The largest lease id: lease ids are positive 64-bit signed integers. */
const MAX_LEASE_ID = 2n ** 63n - 1n;

/** A callback argument: a function. */
function callbackOf(what: string, callback: unknown): () => void {
  if (typeof callback !== 'function') {
    throw new InvalidArgumentError(`${what} must be a function, not ${describe(callback)}`);
  }
  return callback as () => void;
}

/** A list of keys: an array of strings. */
function keysOf(what: string, keys: unknown): string[] {
  if (!Array.isArray(keys)) {
    throw new InvalidArgumentError(`the keys of ${what} must be an array of strings, not ${describe(keys)}`);
  }
  // A plain loop: forEach skips the holes of a sparse array.
  for (let i = 0; i < keys.length; i++) keyOf(`keys[${i}] of ${what}`, keys[i]);
  return keys as string[];
}

/** A lease argument of a call of `client` (a `Lease` of that client, or a lease id) as the native
 * layer's decimal text. Another client's `Lease` is refused: its id may name a lease of this
 * client's store that is not it (another store's ids repeat this one's), or one this client
 * does not keep alive. */
function leaseText(client: Client, what: string, lease: unknown): string {
  if (Lease.is(lease)) {
    ownLease(client, what, lease);
    return lease.native.id;
  }
  if (typeof lease !== 'bigint') {
    throw new InvalidArgumentError(`${what} must be a Lease or a lease id (a bigint, e.g. 7n), not ${describe(lease)}`);
  }
  if (lease < 1n || lease > MAX_LEASE_ID) {
    throw new InvalidArgumentError(`${what} ${lease} is out of range: a lease id is an integer from 1 to 2^63 - 1`);
  }
  return String(lease);
}

function optionalLeaseText(client: Client, what: string, lease: unknown): string | null {
  return lease === undefined || lease === null ? null : leaseText(client, what, lease);
}

/** Refuses a `Lease` made by another client than `client`. */
function ownLease(client: Client, what: string, lease: Lease): void {
  if (!lease.belongsTo(client)) {
    throw new InvalidArgumentError(`${what} (Lease ${lease.native.id}n) belongs to another client: a Lease object is used only with the client that made it`);
  }
}

function leaseOut(id: string): bigint;
function leaseOut(id: string | null | undefined): bigint | undefined;
function leaseOut(id: string | null | undefined): bigint | undefined {
  return id == null ? undefined : BigInt(id);
}

/** The locks held in this JavaScript realm. A held lock stays held until `release()`, its loss
 * or its client's close, never because its object was collected: V8 may collect an object whose
 * variable is still in scope but no longer used (a module's top-level `const leader`, say), and
 * the program still acts as the holder. Each leaves when released or lost (its client's close
 * loses it). */
const heldLocks = new Set<Lock>();

/** The leases kept alive in this JavaScript realm, for the same reason: a lease is kept alive
 * until `revoke()`, its loss or its client's close, not until V8 collects its object (the
 * entries written on it would vanish at a moment nobody chose). Each leaves when lost, which
 * revoking and closing are. */
const liveLeases = new Set<Lease>();

/** The clients of this JavaScript realm that may be open, held weakly: at the process's exit
 * the open ones are closed, so that their locks free at once rather than after their TTL. */
const openClients = new Set<WeakRef<native.Client>>();
let exitHooked = false;

/** Seconds the exit waits, at most, for the store to take the revocations. */
const EXIT_CLOSE_LIMIT = 2;

function closeAtExit(): void {
  const deadline = Date.now() + EXIT_CLOSE_LIMIT * 1000;
  for (const ref of openClients) {
    const client = ref.deref();
    if (client && !client.closed) {
      try {
        client.closeAtExit(Math.max(0, (deadline - Date.now()) / 1000));
      } catch {
        // The process is exiting; the lock frees when its TTL runs out.
      }
    }
  }
  openClients.clear();
}

function track(client: native.Client): WeakRef<native.Client> {
  const ref = new WeakRef(client);
  openClients.add(ref);
  const proc = typeof process === 'undefined' ? undefined : process;
  if (!exitHooked && typeof proc?.on === 'function') {
    exitHooked = true;
    // 'exit' runs on a normal end, process.exit() and an uncaught exception; not on a signal
    // that kills the process (SIGTERM, SIGINT and SIGKILL by default): then the TTL frees it.
    proc.on('exit', closeAtExit);
  }
  return ref;
}

function entry<T>(e: native.Entry): Entry<T> {
  const out: Entry<T> = { key: e.key, value: fromJson(e.value) as T, index: e.index };
  if (e.lease != null) out.lease = leaseOut(e.lease);
  return out;
}

function putResult<T>(r: native.PutResult): PutResult<T> {
  return { successful: r.successful, index: r.index, value: fromJson(r.value) as T | null };
}

function event<T>(e: native.Event): WatchEvent<T> {
  return { type: e.type as 'put' | 'delete', key: e.key, value: fromJson(e.value) as T | null, index: e.index };
}

function waiter(w: native.LockWaiter): LockWaiter {
  const out: LockWaiter = { key: w.key, owner: fromJson(w.owner), token: w.token, holder: w.holder };
  if (w.lease != null) out.lease = leaseOut(w.lease);
  if (w.ttlLeft != null) out.ttlLeft = w.ttlLeft;
  return out;
}

/** An environment variable, where there is an environment (the same TypeScript is the
 * WebAssembly package's, which also runs in browsers). */
function environment(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env[name];
}

/** Connects to a store: `mem://name`, `sqlite:///path/app.db`, `etcd://h1:2379,h2:2379`, ...;
 * without a URL, `INTERLOCK_URL`, else the default SQLite file in the user's data directory. */
export async function connect(url?: string | null, options: ConnectOptions | null = {}): Promise<Client> {
  if (url !== undefined && url !== null) {
    if (typeof url !== 'string') {
      throw new InvalidArgumentError(`the store URL must be a string, not ${describe(url)}`);
    }
    wellFormed('the store URL', url);
  }
  const o = optionsOf('connect', options, ['token']);
  if (o.token !== undefined && o.token !== null && typeof o.token !== 'string') {
    throw new InvalidArgumentError(`the token option of connect must be a string, not ${describe(o.token)}`);
  }
  if (typeof o.token === 'string' && loneSurrogate(o.token)) {
    // Not shown: a token is a secret.
    throw new InvalidArgumentError('the token option of connect is not valid Unicode: it contains a lone surrogate');
  }
  const token = o.token ?? environment('INTERLOCK_TOKEN');
  return new Client(await call(() => native.connect(url ?? null, token ?? null)));
}

/** `withLock`'s callback: runs holding the lock; `signal` aborts (with a `LockLostError` as its
 * reason) if the lock is lost meanwhile (its lease ended, it was force-released, or the client
 * was closed), so that work under it can stop. */
export type WithLockCallback<R> = (held: Lock, signal: AbortSignal) => Promise<R> | R;

/** The URL `connect()` uses when given none. */
export function defaultUrl(): string {
  return callSync(() => native.defaultUrl());
}

/** A connection to one store. Share one per process: its locks share one kept-alive lease. */
export class Client {
  #native: native.Client;
  #tracked: WeakRef<native.Client>;

  /** @internal */
  constructor(n: native.Client) {
    this.#native = n;
    this.#tracked = track(n);
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#native.closed;
  }

  /** @internal Throws `InvalidArgumentError` ("the client of ... is closed") once closed. */
  checkOpen(): void {
    if (this.#native.closed) {
      // The native client's own error, naming the store.
      callSync(() => this.#native.describe());
      throw new InvalidArgumentError('the client is closed');
    }
  }

  /** What the client is connected to. */
  describe(): string {
    return callSync(() => this.#native.describe());
  }

  /** The entry at `key`, or null. */
  async get<T = unknown>(key: string): Promise<Entry<T> | null> {
    keyOf('the key of get', key);
    const e = await this.#call(() => this.#native.get(key));
    return e ? entry<T>(e) : null;
  }

  /** The entries of `keys` that exist, in the order given, from one snapshot. */
  async getMany<T = unknown>(keys: string[]): Promise<Entry<T>[]> {
    keysOf('getMany', keys);
    return (await this.#call(() => this.#native.getMany(keys))).map((e) => entry<T>(e));
  }

  /** Entries under `prefix` in key order, a page at a time, from one snapshot per page. */
  async list<T = unknown>(prefix: string | null = '', options: ListOptions | null = {}): Promise<Page<T>> {
    prefix ??= '';
    keyOf('the prefix of list', prefix);
    const o = optionsOf('list', options, ['after', 'limit']);
    const after = o.after === undefined || o.after === null ? null : keyOf('the after option of list', o.after);
    const limit = optionalIndexOf('the limit option of list', o.limit, 1);
    const page = await this.#call(() => this.#native.list(prefix, after, limit));
    return { entries: page.entries.map((e) => entry<T>(e)), more: page.more };
  }

  /** The store's current index. */
  index(): Promise<number> {
    return this.#call(() => this.#native.index());
  }

  /** Compare-exchange: writes `value` at `key` only if the key is at `index` (0: only if
   * absent). A failed compare is a result (`successful: false` with the current index and
   * value), not an error. `set` is the unconditional write. */
  async put<T = unknown>(key: string, value: T, index: number | bigint, options: SetOptions | null = {}): Promise<PutResult<T>> {
    keyOf('the key of put', key);
    const at = indexOf(`the index of put '${key}' (required: 0 creates only if absent; set() writes unconditionally)`, index);
    const o = optionsOf(`put '${key}'`, options, ['lease']);
    const lease = optionalLeaseText(this, `the lease option of put '${key}'`, o.lease);
    const text = toJson(key, value);
    return putResult<T>(await this.#call(() => this.#native.put(key, text, at, lease)));
  }

  /** Unconditional write; returns the new index. */
  async set<T = unknown>(key: string, value: T, options: SetOptions | null = {}): Promise<number> {
    keyOf('the key of set', key);
    const o = optionsOf(`set '${key}'`, options, ['lease']);
    const lease = optionalLeaseText(this, `the lease option of set '${key}'`, o.lease);
    const text = toJson(key, value);
    return (await this.#call(() => this.#native.put(key, text, null, lease))).index;
  }

  /** Deletes `key`; with `index`, only if it is at that index (absent: fails with index 0). */
  async delete(key: string, options: DeleteOptions | null = {}): Promise<PutResult> {
    keyOf('the key of delete', key);
    const o = optionsOf(`delete '${key}'`, options, ['index']);
    const index = optionalIndexOf(`the index option of delete '${key}'`, o.index);
    return putResult(await this.#call(() => this.#native.delete(key, index)));
  }

  /** A transaction: checks and writes that commit together at one index, or not at all. */
  txn(): Txn {
    return new Txn(callSync(() => this.#native.txn()), this);
  }

  /** The changes under `prefix`, in index order, as an async iterator. Resume after a break
   * with `fromIndex` = the last event's index + 1. */
  watch<T = unknown>(prefix: string | null = '', options: WatchOptions | null = {}): Watch<T> {
    prefix ??= '';
    keyOf('the prefix of watch', prefix);
    const o = optionsOf('watch', options, ['fromIndex', 'signal']);
    const from = optionalIndexOf('the fromIndex option of watch', o.fromIndex);
    if (o.signal !== undefined && o.signal !== null && !(o.signal instanceof AbortSignal)) {
      throw new InvalidArgumentError(`the signal option of watch must be an AbortSignal, not ${describe(o.signal)}`);
    }
    this.checkOpen();
    // Started now, not at the first iteration: the operations of this client that follow wait
    // until it has started, so the watch sees what they write.
    const start = call(() => this.#native.watch(prefix, from));
    this.#starting.add(start);
    const done = () => this.#starting.delete(start);
    start.then(done, done);
    return new Watch<T>(start, o.signal ?? undefined);
  }

  /** Watches of this client that are still starting. */
  #starting = new Set<Promise<unknown>>();

  /** Runs a native call once every watch made before it has started. */
  async #call<R>(f: () => Promise<R> | R): Promise<R> {
    if (this.#starting.size > 0) {
      await Promise.allSettled([...this.#starting]);
    }
    return call(f);
  }

  /** @internal Resolves once every watch made so far has started. */
  async watchesStarted(): Promise<void> {
    if (this.#starting.size > 0) {
      await Promise.allSettled([...this.#starting]);
    }
  }

  /** A lease kept alive in the background until revoked, with `lost` when renewal fails. */
  async lease(ttl: number): Promise<Lease> {
    const secs = seconds('ttl', ttl);
    return new Lease(await this.#call(() => this.#native.lease(secs)), this);
  }

  /** A fair lock; nothing is sent until `acquire()`. Bad options (a TTL below 1 s, a misspelt
   * option) throw here. */
  lock(name: string, options: LockOptions | null = {}): Lock {
    keyOf('the lock name', name);
    const o = optionsOf(`lock '${name}'`, options, LOCK_OPTIONS);
    if (o.owner !== undefined && o.owner !== null) {
      if (typeof o.owner !== 'string') {
        throw new InvalidArgumentError(`the owner option of lock '${name}' must be a string, not ${describe(o.owner)}`);
      }
      wellFormed(`the owner option of lock '${name}'`, o.owner);
    }
    if (o.lease !== undefined && o.lease !== null) {
      if (!Lease.is(o.lease)) {
        throw new InvalidArgumentError(`the lease option of lock '${name}' must be a Lease from client.lease(), not ${describe(o.lease)}`);
      }
      ownLease(this, `the lease option of lock '${name}'`, o.lease);
    }
    return new Lock(callSync(() => this.#native.lock(
      name,
      seconds('ttl', o.ttl ?? DEFAULT_TTL),
      o.owner ?? null,
      o.lease?.native ?? null,
    )), this);
  }

  /** Runs `fn` while holding lock `name` and releases it after, even if `fn` throws. `fn` gets
   * the held lock and an `AbortSignal` that aborts if the lock is lost meanwhile; then the
   * release rejects with `LockLostError` (unless `fn` threw: its error is kept). */
  withLock<R>(name: string, fn: WithLockCallback<R>): Promise<R>;
  withLock<R>(name: string, options: WithLockOptions | null, fn: WithLockCallback<R>): Promise<R>;
  async withLock<R>(name: string, optionsOrFn: WithLockOptions | null | WithLockCallback<R>, maybeFn?: WithLockCallback<R>): Promise<R> {
    const [given, fn]: [WithLockOptions | null, unknown] = typeof optionsOrFn === 'function' ? [{}, optionsOrFn] : [optionsOrFn, maybeFn];
    if (typeof fn !== 'function') {
      throw new InvalidArgumentError(`withLock('${String(name)}', ...) needs a callback as its last argument, not ${describe(fn)}`);
    }
    const o = optionsOf<WithLockOptions>(`withLock '${String(name)}'`, given, [...LOCK_OPTIONS, ...ACQUIRE_OPTIONS]);
    const lock = this.lock(name, { ttl: o.ttl, owner: o.owner, lease: o.lease });
    await lock.acquire({ timeout: o.timeout, signal: o.signal });
    const controller = new AbortController();
    // Not the lock itself: the loss callback is held natively, and must not keep it alive.
    const [lockName, token] = [lock.name, lock.fencingToken];
    lock.waitLost().then(() => controller.abort(new LockLostError(
      `lock '${lockName}' (fencing token ${token}) was lost while held: its lease ended, it was force-released, or its client was closed`)),
    () => undefined);
    let result: R;
    try {
      result = await (fn as WithLockCallback<R>)(lock, controller.signal);
    } catch (e) {
      await lock.release().catch(() => undefined);
      throw e;
    }
    await lock.release();
    return result;
  }

  /** The holder and waiters of lock `name`, holder first. */
  async lockQueue(name: string): Promise<LockWaiter[]> {
    keyOf('the lock name of lockQueue', name);
    return (await this.#call(() => this.#native.lockQueue(name))).map(waiter);
  }

  /** A unit of work over documents: load, change, store, delete, then `saveChanges()`. */
  session(options: SessionOptions | null = {}): Session {
    const o = optionsOf('session', options, ['optimistic']);
    if (o.optimistic !== undefined && o.optimistic !== null && typeof o.optimistic !== 'boolean') {
      throw new InvalidArgumentError(`the optimistic option of session must be true or false, not ${describe(o.optimistic)}`);
    }
    return new Session(callSync(() => this.#native.session(o.optimistic ?? true)), this);
  }

  /** Runs `fn` again while it rejects with `ConcurrencyError` (a read-compute-commit that lost a
   * race), backing off with the core's jittered exponential schedule, at most `attempts` times
   * (an integer from 1: 1 runs `fn` once; default 10); then rejects with the last conflict. */
  async retry<R>(fn: () => Promise<R> | R, options: RetryOptions | null = {}): Promise<R> {
    if (typeof fn !== 'function') {
      throw new InvalidArgumentError(`the function of retry must be a function, not ${describe(fn)}`);
    }
    const o = optionsOf('retry', options, ['attempts']);
    const given = o.attempts ?? 10;
    if (typeof given !== 'number' || !Number.isInteger(given) || given < 1 || given > 1000000) {
      // The core's rule (and message) for the integers; a number that is not one is refused here,
      // in JavaScript's words (Infinity, not Rust's inf).
      throw new InvalidArgumentError(`attempts of retry must be an integer from 1 to 1000000, not ${typeof given === 'number' ? given : describe(given)}`);
    }
    const attempts = callSync(() => native.checkRetryAttempts(given));
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof ConcurrencyError) || attempt + 1 >= attempts) {
          throw e;
        }
        const delay = native.retryDelay(attempt);
        await new Promise((r) => setTimeout(r, delay * 1000));
      }
    }
  }

  /** Grants a lease that is not kept alive; returns its id. */
  async grant(ttl: number): Promise<bigint> {
    const secs = seconds('ttl', ttl);
    return leaseOut(await this.#call(() => this.#native.grant(secs)));
  }

  /** Renews a lease (a `Lease` or a lease id) once; returns its TTL in seconds. */
  keepalive(lease: Lease | bigint): Promise<number> {
    const id = leaseText(this, 'the lease of keepalive', lease);
    return this.#call(() => this.#native.keepalive(id));
  }

  /** Revokes a lease (a `Lease` or a lease id), deleting its entries; false if it was already
   * gone. */
  revoke(lease: Lease | bigint): Promise<boolean> {
    const id = leaseText(this, 'the lease of revoke', lease);
    return this.#call(() => this.#native.revoke(id));
  }

  /** Seconds left on a lease (a `Lease` or a lease id), or null if it is gone. */
  timeToLive(lease: Lease | bigint): Promise<number | null> {
    const id = leaseText(this, 'the lease of timeToLive', lease);
    return this.#call(() => this.#native.timeToLive(id));
  }

  /** Closes the client: its leases are revoked (the locks it holds free at once for other
   * clients, and are lost to their holders: `lost` resolves, `release()` rejects with
   * `LockLostError`), pending waits reject, watches end, and every later call on the client or
   * on its locks, leases, sessions and transactions rejects with `InvalidArgumentError`.
   * Idempotent. Nothing of it keeps the event loop alive afterwards. */
  async close(): Promise<void> {
    openClients.delete(this.#tracked);
    await call(() => this.#native.close());
  }

  /** Closes the client (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A transaction builder. Checks and ops commit at one new index, or nothing is written and
 * `commit()` rejects with a `ConcurrencyError` listing every failed check. */
export class Txn {
  #native: native.Txn;
  #client: Client;
  #committed = false;

  /** @internal */
  constructor(n: native.Txn, client: Client) {
    this.#native = n;
    this.#client = client;
  }

  /** Refuses a step or a commit after the commit: a second commit would write again (a retry
   * after an unknown outcome must build a new transaction from fresh reads). */
  #open(): void {
    if (this.#committed) {
      throw new InvalidArgumentError('this transaction was committed already; make a new one with client.txn()');
    }
    this.#client.checkOpen();
  }

  /** Requires `key` to be at `index` (0: absent). */
  check(key: string, index: number | bigint): this {
    this.#open();
    keyOf('the key of check', key);
    const at = indexOf(`the index of check '${key}'`, index);
    callSync(() => this.#native.check(key, at));
    return this;
  }

  /** Writes `value` at `key` only if the key is at `index` (0: only if absent). */
  put(key: string, value: unknown, index: number | bigint, options: SetOptions | null = {}): this {
    this.#open();
    keyOf('the key of put', key);
    const at = indexOf(`the index of put '${key}' (required: 0 creates only if absent; set() writes unconditionally)`, index);
    const o = optionsOf(`put '${key}'`, options, ['lease']);
    const lease = optionalLeaseText(this.#client, `the lease option of put '${key}'`, o.lease);
    const text = toJson(key, value);
    callSync(() => this.#native.put(key, text, at, lease));
    return this;
  }

  /** Writes `value` at `key` unconditionally. */
  set(key: string, value: unknown, options: SetOptions | null = {}): this {
    this.#open();
    keyOf('the key of set', key);
    const o = optionsOf(`set '${key}'`, options, ['lease']);
    const lease = optionalLeaseText(this.#client, `the lease option of set '${key}'`, o.lease);
    const text = toJson(key, value);
    callSync(() => this.#native.put(key, text, null, lease));
    return this;
  }

  /** Deletes `key`; with `index`, only if the key is at that index. */
  delete(key: string, options: DeleteOptions | null = {}): this {
    this.#open();
    keyOf('the key of delete', key);
    const o = optionsOf(`delete '${key}'`, options, ['index']);
    const index = optionalIndexOf(`the index option of delete '${key}'`, o.index);
    callSync(() => this.#native.delete(key, index));
    return this;
  }

  /** Commits only while `lock` is still held (a fenced write); else `LockLostError`. */
  require(lock: Lock): this {
    this.#open();
    if (!Lock.is(lock)) {
      throw new InvalidArgumentError(`the lock of require must be a Lock from client.lock(), not ${describe(lock)}`);
    }
    if (!lock.belongsTo(this.#client)) {
      throw new InvalidArgumentError(`lock '${lock.name}' belongs to another client: a transaction requires a lock of its own client`);
    }
    callSync(() => this.#native.require(lock.native));
    return this;
  }

  /** Commits; returns the new index. */
  async commit(): Promise<number> {
    this.#open();
    this.#committed = true;
    await this.#client.watchesStarted();
    return call(() => this.#native.commit());
  }
}

/** Calls `callback` once when `target` is lost, or soon if it already is (a loss delivered
 * before the callback was registered is not delivered again). */
function whenLost(target: { onLost(cb: () => void): void; isLost(): boolean }, callback: () => void): void {
  let called = false;
  const once = () => {
    if (!called) {
      called = true;
      callback();
    }
  };
  target.onLost(once);
  if (target.isLost()) {
    queueMicrotask(once);
  }
}

/** A lease kept alive in the background. */
export class Lease {
  /** @internal */
  readonly native: native.Lease;
  #lost?: Promise<void>;
  // Keeps the client reachable while the lease is, so that the process's exit closes it.
  readonly #client: Client;

  /** @internal */
  constructor(n: native.Lease, client: Client) {
    this.native = n;
    this.#client = client;
    liveLeases.add(this);
    whenLost(n, () => liveLeases.delete(this));
  }

  /** @internal Whether `x` is a lease made by a client (not merely an object with this
   * prototype). */
  static is(x: unknown): x is Lease {
    return typeof x === 'object' && x !== null && #client in x;
  }

  /** @internal Whether `client` made this lease. */
  belongsTo(client: Client): boolean {
    return this.#client === client;
  }

  /** The lease id. */
  get id(): bigint {
    return BigInt(this.native.id);
  }

  /** The TTL in seconds. */
  get ttl(): number {
    return this.native.ttl;
  }

  /** Whether the lease is lost: renewal could not be confirmed before expiry, or it was
   * revoked (also by closing its client). Entries on it may be gone. */
  get lost(): boolean {
    return this.native.isLost();
  }

  /** Resolves to true when the lease is lost (at once if it already is), or to false when
   * `timeout` seconds pass first. It does not keep the process alive. */
  waitLost(options: WaitLostOptions | null = {}): Promise<boolean> {
    const o = optionsOf('waitLost of a lease', options, ['timeout']);
    const limit = optionalSeconds('timeout', o.timeout);
    this.#lost ??= new Promise((resolve) => whenLost(this.native, resolve));
    return withTimeout(this.#lost, limit);
  }

  /** Calls `callback` once when the lease is lost (at once if it already is). Throws
   * `InvalidArgumentError` once the client is closed. */
  onLost(callback: () => void): void {
    const f = callbackOf('the callback of onLost', callback);
    this.#client.checkOpen();
    whenLost(this.native, f);
  }

  /** Revokes the lease, deleting its entries; false if it was already gone. */
  revoke(): Promise<boolean> {
    return call(() => this.native.revoke());
  }
}

/** `lost` as true, or false once `limit` seconds pass first (null: no limit). A wait without a
 * limit does not keep the process alive, as the loss itself does not; one with a limit does, until
 * it ends, as any pending call. */
function withTimeout(lost: Promise<void>, limit: number | null): Promise<boolean> {
  const won = lost.then(() => true);
  if (limit === null) return won;
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), limit * 1000);
    void won.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** One acquisition's `lost` promise. */
interface Acquisition {
  /** The fencing token of the acquisition, or null until the lock is acquired. */
  token: number | null;
  promise: Promise<void>;
  resolve: () => void;
  settled: boolean;
}

function newAcquisition(token: number | null): Acquisition {
  const a = { token, settled: false } as Acquisition;
  a.promise = new Promise<void>((r) => {
    a.resolve = () => {
      a.settled = true;
      r();
    };
  });
  return a;
}

/** A fair, non-reentrant lock with fencing tokens. Use `withLock` or try/finally (or `await
 * using` where the runtime has it) to release it on every path. One `acquire` at a time: a
 * second one while the first waits, or while the lock is held, rejects at once with
 * `InvalidArgumentError`, and the first stays cancellable. */
export class Lock {
  /** @internal */
  readonly native: native.Lock;
  /** The current (or next) acquisition's `lost` promise. A holder object, so that the loss
   * callback need not reach this object (the native side holds the callback, and a callback
   * holding the lock would keep it from ever being collected). */
  readonly #acquisitions: { current?: Acquisition; watching: boolean } = { watching: false };
  /** Whether an `acquire` of this object is pending. */
  #acquiring = false;
  /** Whether a loss takes this object out of `heldLocks` (registered at its first acquisition). */
  #untrackedOnLoss = false;
  // Keeps the client reachable while the lock is, so that the process's exit closes it.
  readonly #client: Client;

  /** @internal */
  constructor(n: native.Lock, client: Client) {
    this.native = n;
    this.#client = client;
  }

  /** @internal Whether `x` is a lock made by a client (not merely an object with this
   * prototype). */
  static is(x: unknown): x is Lock {
    return typeof x === 'object' && x !== null && #client in x;
  }

  /** @internal Whether `client` made this lock. */
  belongsTo(client: Client): boolean {
    return this.#client === client;
  }


  /** The lock's name. */
  get name(): string {
    return this.native.name;
  }

  /** The fencing token while held (it increases with every grant), else null. Pass it to any
   * resource that rejects writes with a token lower than the highest it has seen. */
  get fencingToken(): number | null {
    return this.native.fencingToken ?? null;
  }

  /** Whether this object holds the lock (its lease may since have been lost; see `lost`). */
  get held(): boolean {
    return this.native.isHeld();
  }

  /** Whether the lock is held but was lost: stop working under it. */
  get lost(): boolean {
    return this.native.isLost();
  }

  /** Resolves to true when the held lock is lost (at once if it already is): its lease ended,
   * its entry was deleted by someone else (a force-release), or its client was closed; to false
   * when `timeout` seconds pass first. Rejects at once with `InvalidArgumentError` if the lock is
   * not held (it would never be lost). It does not keep the process alive. */
  async waitLost(options: WaitLostOptions | null = {}): Promise<boolean> {
    const o = optionsOf(`waitLost of lock '${this.name}'`, options, ['timeout']);
    const limit = optionalSeconds('timeout', o.timeout);
    this.#client.checkOpen();
    if (!this.held) {
      throw new InvalidArgumentError(`lock '${this.name}' is not held by this lock object`);
    }
    return withTimeout(this.#currentLoss(), limit);
  }

  /** The current acquisition's loss. */
  #currentLoss(): Promise<void> {
    const acquisitions = this.#acquisitions;
    const a = acquisitions.current;
    if (!a || (a.token !== null && !a.settled && !this.held)) {
      // Not held, and the last acquisition was released: the next one's.
      acquisitions.current = newAcquisition(this.fencingToken);
    }
    if (!acquisitions.watching) {
      acquisitions.watching = true;
      const lock = new WeakRef(this.native);
      this.native.onLost(() => {
        const a = acquisitions.current;
        const n = lock.deref();
        // The loss is the current acquisition's unless a newer one is held and not lost.
        if (a && a.token !== null && !(n && n.isHeld() && !n.isLost() && (n.fencingToken ?? null) !== a.token)) {
          a.resolve();
        }
      });
    }
    const current = acquisitions.current!;
    if (this.lost) {
      queueMicrotask(() => current.resolve());
    }
    return current.promise;
  }

  /** Calls `callback` as soon as the lease behind the held lock is lost (for every acquisition).
   * Throws `InvalidArgumentError` once the client is closed. */
  onLost(callback: () => void): void {
    const f = callbackOf('the callback of onLost', callback);
    this.#client.checkOpen();
    whenLost(this.native, f);
  }

  #acquired(token: number): void {
    heldLocks.add(this);
    if (!this.#untrackedOnLoss) {
      this.#untrackedOnLoss = true;
      // Weakly: the native side holds the callback for the object's life.
      const self = new WeakRef<Lock>(this);
      this.native.onLost(() => {
        const lock = self.deref();
        if (lock) heldLocks.delete(lock);
      });
    }
    const acquisitions = this.#acquisitions;
    if (acquisitions.current?.token === null) {
      acquisitions.current.token = token;
    } else if (acquisitions.current) {
      acquisitions.current = newAcquisition(token);
    }
  }

  /** Waits for the lock in arrival order; resolves to the fencing token.
   *
   * ```ts
   * const lock = db.lock('reports');
   * const token = await lock.acquire({ timeout: 5 });
   * try { ... } finally { await lock.release(); }
   * ```
   */
  async acquire(options: AcquireOptions | null = {}): Promise<number> {
    await this.#client.watchesStarted();
    const { timeout, signal } = optionsOf(`acquire of lock '${this.name}'`, options, ACQUIRE_OPTIONS);
    const limit = optionalSeconds('timeout', timeout);
    if (signal !== undefined && signal !== null && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError(`signal must be an AbortSignal, not ${describe(signal)}`);
    }
    if (signal?.aborted) {
      throw new AbortError(`waiting for lock '${this.name}' was aborted`, { cause: signal.reason });
    }
    if (this.#acquiring) {
      // Refused here, before its signal could cancel the pending one (the native side refuses
      // it too, and a second acquire of a held lock).
      throw new InvalidArgumentError(`lock '${this.name}' is already being acquired by this lock object; locks are not re-entrant (await the pending acquire, or use another lock object)`);
    }
    this.#acquiring = true;
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      this.native.cancel();
    };
    let started = false;
    try {
      const pending = call(() => this.native.acquire(limit));
      started = true;
      signal?.addEventListener('abort', onAbort, { once: true });
      const token = await pending;
      this.#acquired(token);
      return token;
    } catch (e) {
      if (aborted) {
        throw new AbortError(`waiting for lock '${this.name}' was aborted; its waiter entry was removed`, { cause: signal?.reason });
      }
      throw fromNative(e);
    } finally {
      this.#acquiring = false;
      if (started) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Takes the lock only if nobody holds or waits for it; resolves to the fencing token or null. */
  async tryAcquire(): Promise<number | null> {
    await this.#client.watchesStarted();
    const token = await call(() => this.native.tryAcquire());
    if (token !== null && token !== undefined) this.#acquired(token);
    return token ?? null;
  }

  /** Releases the lock. Rejects with `LockLostError` if it was lost while held (its lease
   * ended, it was force-released, or its client was closed). */
  release(): Promise<void> {
    return call(() => this.native.release()).finally(() => {
      if (!this.held) heldLocks.delete(this);
    });
  }

  /** The holder and waiters of this lock, holder first. */
  queue(): Promise<LockWaiter[]> {
    return this.#client.lockQueue(this.name);
  }

  /** Releases the lock if held (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.held) {
      await this.release();
    }
  }
}

/** The changes under a prefix, in index order (`client.watch`): an async iterator, started
 * when it was made. */
export class Watch<T = unknown> implements AsyncIterableIterator<WatchEvent<T>>, AsyncDisposable {
  #stream: Promise<native.Watch>;
  #signal?: AbortSignal;
  #done = false;

  /** @internal */
  constructor(stream: Promise<native.Watch>, signal?: AbortSignal) {
    this.#stream = stream;
    this.#signal = signal;
    // A watch that fails to start reports it at its first iteration.
    stream.catch(() => undefined);
    signal?.addEventListener('abort', () => void this.return(), { once: true });
  }

  /** The watch is its own async iterator: `for await (const event of watch)`. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next event; `done` once the watch was closed or its client was. */
  async next(): Promise<IteratorResult<WatchEvent<T>>> {
    if (this.#done || this.#signal?.aborted) {
      return { done: true, value: undefined };
    }
    const stream = await this.#stream;
    const e = await call(() => stream.next());
    if (e === null || this.#done) {
      this.#done = true;
      return { done: true, value: undefined };
    }
    return { done: false, value: event<T>(e) };
  }

  /** Stops watching; a pending `next()` resolves as done. */
  close(): void {
    void this.return();
  }

  /** Stops watching and reports the iteration done (what leaving a `for await` loop calls). */
  async return(): Promise<IteratorResult<WatchEvent<T>>> {
    this.#done = true;
    const stream = await this.#stream.catch(() => undefined);
    stream?.close();
    return { done: true, value: undefined };
  }

  /** Stops watching at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/** A unit of work: values loaded are tracked; change them in place, store new ones, delete,
 * then `saveChanges()` writes everything in one transaction, checked at the loaded indexes. */
export class Session {
  #native: native.Session;
  #client: Client;
  #tracked = new Map<string, unknown>();

  /** @internal */
  constructor(n: native.Session, client: Client) {
    this.#native = n;
    this.#client = client;
  }

  /** The value at `key` (null if absent), tracked: changes made to it in place are saved by
   * `saveChanges`. Loading a key again returns the same object. */
  async load<T = any>(key: string): Promise<T | null> {
    keyOf('the key of load', key);
    if (this.#tracked.has(key)) {
      return this.#tracked.get(key) as T | null;
    }
    await this.#client.watchesStarted();
    const value = fromJson(await call(() => this.#native.load(key)));
    this.#tracked.set(key, value);
    return value as T | null;
  }

  /** Loads several keys from one snapshot; absent keys map to null. */
  async loadMany<T = any>(keys: string[]): Promise<Map<string, T | null>> {
    keysOf('loadMany', keys);
    const missing = keys.filter((k) => !this.#tracked.has(k));
    if (missing.length > 0) {
      const values = await call(() => this.#native.loadMany(missing));
      missing.forEach((k, i) => this.#tracked.set(k, fromJson(values[i])));
    }
    return new Map(keys.map((k) => [k, this.#tracked.get(k) as T | null]));
  }

  /** Stores a new or replacing value (tracked from now on). A key that was never loaded must be
   * absent at save time, unless optimistic concurrency is off. */
  store(key: string, value: unknown): void {
    this.#client.checkOpen();
    keyOf('the key of store', key);
    const text = toJson(key, value);
    callSync(() => this.#native.store(key, text));
    this.#tracked.set(key, value);
  }

  /** Deletes `key` at save time (checked at its loaded index if it was loaded). */
  delete(key: string): void {
    this.#client.checkOpen();
    keyOf('the key of delete', key);
    callSync(() => this.#native.delete(key));
    this.#tracked.delete(key);
  }

  /** The index `key` had when loaded (0: absent), or null if it was not loaded. */
  loadedIndex(key: string): number | null {
    this.#client.checkOpen();
    keyOf('the key of loadedIndex', key);
    return callSync(() => this.#native.loadedIndex(key)) ?? null;
  }

  /** Stages a compare-exchange put that commits with the documents. */
  putCompareExchange(key: string, value: unknown, index: number | bigint): void {
    this.#client.checkOpen();
    keyOf('the key of putCompareExchange', key);
    const at = indexOf(`the index of putCompareExchange '${key}'`, index);
    const text = toJson(key, value);
    callSync(() => this.#native.putCompareExchange(key, text, at));
  }

  /** Stages a compare-exchange delete that commits with the documents. */
  deleteCompareExchange(key: string, index: number | bigint): void {
    this.#client.checkOpen();
    keyOf('the key of deleteCompareExchange', key);
    const at = indexOf(`the index of deleteCompareExchange '${key}'`, index);
    callSync(() => this.#native.deleteCompareExchange(key, at));
  }

  #sync(): void {
    for (const [key, value] of this.#tracked) {
      const text = toJson(key, value);
      callSync(() => this.#native.update(key, text));
    }
  }

  /** Whether `saveChanges` would write anything. */
  get hasChanges(): boolean {
    this.#client.checkOpen();
    this.#sync();
    return callSync(() => this.#native.hasChanges());
  }

  /** Writes every change in one transaction; resolves to the new index (null if nothing
   * changed). On `ConcurrencyError` nothing is written. */
  async saveChanges(): Promise<number | null> {
    await this.#client.watchesStarted();
    this.#sync();
    return (await call(() => this.#native.saveChanges())) ?? null;
  }
}

