/**
 * interlock for Node: compare-exchange values, leases, fair locks with fencing tokens, JSON
 * documents with optimistic concurrency and atomic transactions, on an embedded SQLite store
 * shared by every process on the host, an in-process store, or an etcd cluster.
 *
 * ```ts
 * import { connect } from 'interlock';
 * const db = await connect('sqlite:///var/lib/app/locks.db');
 * await db.withLock('printer/first-floor', { ttl: 20 }, async (held) => {
 *   await printJob({ fence: held.fencingToken });
 * });
 * ```
 *
 * Times are in seconds (`ttl`, `timeout`), as in every interlock package; indexes, versions and
 * fencing tokens are numbers; lease ids are strings (etcd's do not fit a number).
 */

import * as native from './native.js';
import {
  AbortError,
  ConcurrencyError,
  InvalidArgumentError,
  call,
  callSync,
  fromNative,
} from './errors.js';
import { fromJson, toJson } from './json.js';

export * from './errors.js';

/** A stored key: its JSON value, the index of the write that last touched it, and its lease. */
export interface Entry<T = unknown> {
  key: string;
  value: T;
  index: number;
  lease?: string;
}

/** What `put` and `delete` return. On success the new index and value; on a failed compare the
 * current index (0: absent) and value, so the caller can decide and retry. */
export interface PutResult<T = unknown> {
  successful: boolean;
  index: number;
  value: T | null;
}

/** One change, in index order. */
export interface WatchEvent<T = unknown> {
  type: 'put' | 'delete';
  key: string;
  value: T | null;
  index: number;
}

/** One page of `list`. */
export interface Page<T = unknown> {
  entries: Entry<T>[];
  /** Whether more entries follow: ask again with `after` = the last key. */
  more: boolean;
}

/** The holder or a waiter of a lock, holder first. */
export interface LockWaiter {
  key: string;
  owner: unknown;
  token: number;
  holder: boolean;
  lease?: string;
  /** Seconds left on the waiter's lease. */
  ttlLeft?: number;
}

export interface ConnectOptions {
  /** Bearer token for an interlock server (`http://`); default `INTERLOCK_TOKEN`. */
  token?: string;
}

export interface PutOptions {
  /** Compare-exchange: 0 creates only if absent, N replaces only at index N. */
  index?: number;
  /** Attach the entry to this lease: it is deleted when the lease ends. */
  lease?: Lease | string;
}

export interface LockOptions {
  /** Seconds a crashed holder blocks others (the lease TTL, default 20). */
  ttl?: number;
  /** The owner description other clients see in the queue. */
  owner?: string;
  /** Hold the lock on this lease instead of the client's shared one. */
  lease?: Lease;
}

export interface AcquireOptions {
  /** Seconds to wait; on timeout the waiter is removed and the promise rejects with
   * `LockTimeoutError`. Default: wait forever. */
  timeout?: number;
  /** Cancels the wait: the waiter entry is removed and the promise rejects with `AbortError`. */
  signal?: AbortSignal;
}

export type WithLockOptions = LockOptions & AcquireOptions;

export interface WatchOptions {
  /** Start at this index (events with a greater or equal index); default: from now. */
  fromIndex?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

export interface RetryOptions {
  /** How many times to run `fn` at most (default 10). */
  attempts?: number;
}

export interface SessionOptions {
  /** Check every saved key at its loaded index (default true). Off: last write wins. */
  optimistic?: boolean;
}

const DEFAULT_TTL = 20;

/** A time option in seconds, checked here so that the error names the option. */
function seconds(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative number of seconds, not ${String(value)}`);
  }
  return value;
}

function optionalSeconds(name: string, value: unknown): number | null {
  return value === undefined || value === null ? null : seconds(name, value);
}

function leaseId(lease: Lease | string | undefined): string | undefined {
  return lease instanceof Lease ? lease.id : lease;
}

function entry<T>(e: native.Entry): Entry<T> {
  const out: Entry<T> = { key: e.key, value: fromJson(e.value) as T, index: e.index };
  if (e.lease != null) out.lease = e.lease;
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
  if (w.lease != null) out.lease = w.lease;
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
export async function connect(url?: string, options: ConnectOptions = {}): Promise<Client> {
  if (url !== undefined && typeof url !== 'string') {
    throw new InvalidArgumentError(`the store URL must be a string, not ${typeof url}`);
  }
  const token = options.token ?? environment('INTERLOCK_TOKEN');
  return new Client(await call(() => native.connect(url ?? null, token ?? null)));
}

/** The URL `connect()` uses when given none. */
export function defaultUrl(): string {
  return callSync(() => native.defaultUrl());
}

/** A connection to one store. Share one per process: its locks share one kept-alive lease. */
export class Client {
  #native: native.Client;

  /** @internal */
  constructor(n: native.Client) {
    this.#native = n;
  }

  /** What the client is connected to. */
  describe(): string {
    return callSync(() => this.#native.describe());
  }

  /** The entry at `key`, or null. */
  async get<T = unknown>(key: string): Promise<Entry<T> | null> {
    const e = await call(() => this.#native.get(key));
    return e ? entry<T>(e) : null;
  }

  /** The entries of `keys` that exist, in the order given, from one snapshot. */
  async getMany<T = unknown>(keys: string[]): Promise<Entry<T>[]> {
    return (await call(() => this.#native.getMany(keys))).map((e) => entry<T>(e));
  }

  /** Entries under `prefix` in key order, a page at a time, from one snapshot per page. */
  async list<T = unknown>(prefix: string, options: { after?: string; limit?: number } = {}): Promise<Page<T>> {
    const page = await call(() => this.#native.list(prefix, options.after ?? null, options.limit ?? null));
    return { entries: page.entries.map((e) => entry<T>(e)), more: page.more };
  }

  /** The store's current index. */
  index(): Promise<number> {
    return call(() => this.#native.index());
  }

  /** Writes `value` at `key`. With `index`, a compare-exchange: a failed compare is a result
   * (`successful: false` with the current index and value), not an error. */
  async put<T = unknown>(key: string, value: T, options: PutOptions = {}): Promise<PutResult<T>> {
    const text = toJson(key, value);
    return putResult<T>(await call(() => this.#native.put(key, text, options.index ?? null, leaseId(options.lease) ?? null)));
  }

  /** Unconditional write; returns the new index. */
  async set<T = unknown>(key: string, value: T, options: { lease?: Lease | string } = {}): Promise<number> {
    const text = toJson(key, value);
    return (await call(() => this.#native.put(key, text, null, leaseId(options.lease) ?? null))).index;
  }

  /** Deletes `key`; with `index`, only if it is at that index (absent: fails with index 0). */
  async delete(key: string, options: { index?: number } = {}): Promise<PutResult> {
    return putResult(await call(() => this.#native.delete(key, options.index ?? null)));
  }

  /** A transaction: checks and writes that commit together at one index, or not at all. */
  txn(): Txn {
    return new Txn(callSync(() => this.#native.txn()));
  }

  /** The changes under `prefix`, in index order, as an async iterator. Resume after a break
   * with `fromIndex` = the last event's index + 1. */
  watch<T = unknown>(prefix: string, options: WatchOptions = {}): AsyncIterableIterator<WatchEvent<T>> & AsyncDisposable {
    return new Watch<T>(this.#native, prefix, options);
  }

  /** A lease kept alive in the background until revoked, with `lost` when renewal fails. */
  async lease(ttl: number): Promise<Lease> {
    const secs = seconds('ttl', ttl);
    return new Lease(await call(() => this.#native.lease(secs)));
  }

  /** A fair lock; nothing is sent until `acquire()`. */
  lock(name: string, options: LockOptions = {}): Lock {
    return new Lock(callSync(() => this.#native.lock(
      name,
      seconds('ttl', options.ttl ?? DEFAULT_TTL),
      options.owner ?? null,
      options.lease?.native ?? null,
    )));
  }

  /** Runs `fn` while holding lock `name` and releases it after, even if `fn` throws. If the lock
   * was lost meanwhile, the release rejects with `LockLostError`. */
  async withLock<R>(name: string, options: WithLockOptions, fn: (held: Lock) => Promise<R> | R): Promise<R> {
    const lock = this.lock(name, options);
    await lock.acquire({ timeout: options.timeout, signal: options.signal });
    let result: R;
    try {
      result = await fn(lock);
    } catch (e) {
      await lock.release().catch(() => undefined);
      throw e;
    }
    await lock.release();
    return result;
  }

  /** The holder and waiters of lock `name`, holder first. */
  async lockQueue(name: string): Promise<LockWaiter[]> {
    return (await call(() => this.#native.lockQueue(name))).map(waiter);
  }

  /** A unit of work over documents: load, change, store, delete, then `saveChanges()`. */
  session(options: SessionOptions = {}): Session {
    return new Session(callSync(() => this.#native.session(options.optimistic ?? true)));
  }

  /** Runs `fn` again while it rejects with `ConcurrencyError` (a read-compute-commit that lost a
   * race), with jittered backoff, at most `attempts` times; then rejects with the last conflict. */
  async retry<R>(fn: () => Promise<R> | R, options: RetryOptions = {}): Promise<R> {
    const attempts = options.attempts ?? 10;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new InvalidArgumentError(`attempts must be a positive integer, not ${attempts}`);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof ConcurrencyError) || attempt >= attempts) {
          throw e;
        }
        const base = Math.min(1000, 5 * 2 ** (attempt - 1));
        await new Promise((r) => setTimeout(r, base / 2 + Math.random() * base / 2));
      }
    }
  }

  /** Grants a lease that is not kept alive; returns its id. */
  grant(ttl: number): Promise<string> {
    const secs = seconds('ttl', ttl);
    return call(() => this.#native.grant(secs));
  }

  /** Renews lease `id` once; returns its TTL in seconds. */
  keepalive(id: string): Promise<number> {
    return call(() => this.#native.keepalive(id));
  }

  /** Revokes lease `id`, deleting its entries; false if it was already gone. */
  revoke(id: string): Promise<boolean> {
    return call(() => this.#native.revoke(id));
  }

  /** Seconds left on lease `id`, or null if it is gone. */
  timeToLive(id: string): Promise<number | null> {
    return call(() => this.#native.timeToLive(id));
  }

  /** Closes the client: its shared lock lease is revoked, its connections closed, and every
   * later call rejects. Nothing of it keeps the event loop alive. */
  async close(): Promise<void> {
    await call(() => this.#native.close());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A transaction builder. Checks and ops commit at one new index, or nothing is written and
 * `commit()` rejects with a `ConcurrencyError` listing every failed check. */
export class Txn {
  #native: native.Txn;

  /** @internal */
  constructor(n: native.Txn) {
    this.#native = n;
  }

  /** Requires `key` to be at `index` (0: absent). */
  check(key: string, index: number): this {
    callSync(() => this.#native.check(key, index));
    return this;
  }

  /** Writes `value` at `key`; with `index`, only if the key is at that index. */
  put(key: string, value: unknown, options: PutOptions = {}): this {
    const text = toJson(key, value);
    callSync(() => this.#native.put(key, text, options.index ?? null, leaseId(options.lease) ?? null));
    return this;
  }

  /** Deletes `key`; with `index`, only if the key is at that index. */
  delete(key: string, options: { index?: number } = {}): this {
    callSync(() => this.#native.delete(key, options.index ?? null));
    return this;
  }

  /** Commits only while `lock` is still held (a fenced write); else `LockLostError`. */
  require(lock: Lock): this {
    callSync(() => this.#native.require(lock.native));
    return this;
  }

  /** Commits; returns the new index. */
  commit(): Promise<number> {
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

  /** @internal */
  constructor(n: native.Lease) {
    this.native = n;
  }

  /** The lease id. */
  get id(): string {
    return this.native.id;
  }

  /** The TTL in seconds. */
  get ttl(): number {
    return this.native.ttl;
  }

  /** Whether renewal could not be confirmed before expiry: entries on it may be gone. */
  get isLost(): boolean {
    return this.native.isLost();
  }

  /** Resolves when the lease is lost. It does not keep the process alive. */
  get lost(): Promise<void> {
    this.#lost ??= new Promise((resolve) => whenLost(this.native, resolve));
    return this.#lost;
  }

  /** Calls `callback` once when the lease is lost (at once if it already is). */
  onLost(callback: () => void): void {
    whenLost(this.native, callback);
  }

  /** Revokes the lease, deleting its entries; false if it was already gone. */
  revoke(): Promise<boolean> {
    return call(() => this.native.revoke());
  }
}

/** A fair, non-reentrant lock with fencing tokens. Use `await using` or `withLock` to release
 * it on every path. */
export class Lock {
  /** @internal */
  readonly native: native.Lock;
  #lost?: Promise<void>;

  /** @internal */
  constructor(n: native.Lock) {
    this.native = n;
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

  /** Whether this object holds the lock (its lease may since have been lost; see `isLost`). */
  get held(): boolean {
    return this.native.isHeld();
  }

  /** Whether the lock is held but its lease was lost: stop working under it. */
  get isLost(): boolean {
    return this.native.isLost();
  }

  /** Resolves when the lease behind the held lock is lost. It does not keep the process alive. */
  get lost(): Promise<void> {
    this.#lost ??= new Promise((resolve) => whenLost(this.native, resolve));
    return this.#lost;
  }

  /** Calls `callback` as soon as the lease behind the held lock is lost. */
  onLost(callback: () => void): void {
    whenLost(this.native, callback);
  }

  /** Waits for the lock in arrival order; resolves to the fencing token.
   *
   * ```ts
   * await using lock = db.lock('reports');
   * const token = await lock.acquire({ timeout: 5 });
   * ```
   */
  async acquire(options: AcquireOptions = {}): Promise<number> {
    const { timeout, signal } = options;
    if (signal?.aborted) {
      throw new AbortError(`waiting for lock '${this.name}' was aborted`, { cause: signal.reason });
    }
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      this.native.cancel();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await call(() => this.native.acquire(optionalSeconds('timeout', timeout)));
    } catch (e) {
      if (aborted) {
        throw new AbortError(`waiting for lock '${this.name}' was aborted; its waiter entry was removed`, { cause: signal?.reason });
      }
      throw fromNative(e);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Takes the lock only if nobody holds or waits for it; resolves to the fencing token or null. */
  async tryAcquire(): Promise<number | null> {
    return call(() => this.native.tryAcquire());
  }

  /** Releases the lock. Rejects with `LockLostError` if its lease was lost while held. */
  release(): Promise<void> {
    return call(() => this.native.release());
  }

  /** Releases the lock if held (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.held) {
      await this.release();
    }
  }
}

/** The async iterator of `client.watch`. */
class Watch<T> implements AsyncIterableIterator<WatchEvent<T>>, AsyncDisposable {
  #client: native.Client;
  #prefix: string;
  #options: WatchOptions;
  #stream?: Promise<native.Watch>;
  #done = false;

  constructor(client: native.Client, prefix: string, options: WatchOptions) {
    this.#client = client;
    this.#prefix = prefix;
    this.#options = options;
    options.signal?.addEventListener('abort', () => void this.return(), { once: true });
  }

  #open(): Promise<native.Watch> {
    this.#stream ??= call(() => this.#client.watch(this.#prefix, this.#options.fromIndex ?? null));
    return this.#stream;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<WatchEvent<T>>> {
    if (this.#done || this.#options.signal?.aborted) {
      return { done: true, value: undefined };
    }
    const stream = await this.#open();
    const e = await call(() => stream.next());
    if (e === null || this.#done) {
      this.#done = true;
      return { done: true, value: undefined };
    }
    return { done: false, value: event<T>(e) };
  }

  async return(): Promise<IteratorResult<WatchEvent<T>>> {
    this.#done = true;
    if (this.#stream) {
      const stream = await this.#stream.catch(() => undefined);
      stream?.close();
    }
    return { done: true, value: undefined };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/** A unit of work: values loaded are tracked; change them in place, store new ones, delete,
 * then `saveChanges()` writes everything in one transaction, checked at the loaded indexes. */
export class Session {
  #native: native.Session;
  #tracked = new Map<string, unknown>();

  /** @internal */
  constructor(n: native.Session) {
    this.#native = n;
  }

  /** The value at `key` (null if absent), tracked: changes made to it in place are saved by
   * `saveChanges`. Loading a key again returns the same object. */
  async load<T = any>(key: string): Promise<T | null> {
    if (this.#tracked.has(key)) {
      return this.#tracked.get(key) as T | null;
    }
    const value = fromJson(await call(() => this.#native.load(key)));
    this.#tracked.set(key, value);
    return value as T | null;
  }

  /** Loads several keys from one snapshot; absent keys map to null. */
  async loadMany<T = any>(keys: string[]): Promise<Map<string, T | null>> {
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
    const text = toJson(key, value);
    callSync(() => this.#native.store(key, text));
    this.#tracked.set(key, value);
  }

  /** Deletes `key` at save time (checked at its loaded index if it was loaded). */
  delete(key: string): void {
    callSync(() => this.#native.delete(key));
    this.#tracked.delete(key);
  }

  /** The index `key` had when loaded (0: absent), or null if it was not loaded. */
  loadedIndex(key: string): number | null {
    return callSync(() => this.#native.loadedIndex(key)) ?? null;
  }

  /** Stages a compare-exchange put that commits with the documents. */
  putCompareExchange(key: string, value: unknown, index: number): void {
    const text = toJson(key, value);
    callSync(() => this.#native.putCompareExchange(key, text, index));
  }

  /** Stages a compare-exchange delete that commits with the documents. */
  deleteCompareExchange(key: string, index: number): void {
    callSync(() => this.#native.deleteCompareExchange(key, index));
  }

  #sync(): void {
    for (const [key, value] of this.#tracked) {
      const text = toJson(key, value);
      callSync(() => this.#native.update(key, text));
    }
  }

  /** Whether `saveChanges` would write anything. */
  get hasChanges(): boolean {
    this.#sync();
    return callSync(() => this.#native.hasChanges());
  }

  /** Writes every change in one transaction; resolves to the new index (null if nothing
   * changed). On `ConcurrencyError` nothing is written. */
  async saveChanges(): Promise<number | null> {
    this.#sync();
    return (await call(() => this.#native.saveChanges())) ?? null;
  }
}

