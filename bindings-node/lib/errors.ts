/**
 * The errors every interlock call rejects with: one base class, a subclass per kind, and a
 * stable `code` string. The native module cannot throw subclasses, so it encodes the kind in
 * the message and {@link fromNative} rebuilds the real error here.
 */

/** A compare that failed in a transaction or a session: the key, the index the caller expected
 * (0: absent) and the index it had. */
export interface Conflict {
  /** The key whose check failed. */
  key: string;
  /** The index the check expected (0: absent). */
  expected: number;
  /** The index the key was at (0: absent). */
  actual: number;
}

const KINDS: Record<string, string> = {
  ERR_INVALID_ARGUMENT: 'InvalidArgument',
  ERR_CONCURRENCY: 'Conflict',
  ERR_LOCK_TIMEOUT: 'LockTimeout',
  ERR_LOCK_LOST: 'LockLost',
  ERR_LEASE_EXPIRED: 'LeaseExpired',
  ERR_UNAVAILABLE: 'Unavailable',
  ERR_UNAUTHORIZED: 'Unauthorized',
  ERR_INTERNAL: 'Internal',
  ABORT_ERR: 'Abort',
};

/** Every error interlock raises. */
export class InterlockError extends Error {
  /** A stable code, e.g. `ERR_CONCURRENCY`. */
  readonly code: string;
  /** The error kind, the same in every interlock package: `InvalidArgument`, `Conflict`,
   * `LockTimeout`, `LockLost`, `LeaseExpired`, `Unavailable`, `Unauthorized`, `Internal` (and
   * `Abort` for an `AbortError`, which only JavaScript has: like every class but
   * `ConcurrencyError`, its name without `Error`). */
  readonly kind: string;
  /** Whether trying again later may succeed (the store was unavailable). */
  readonly retryable: boolean;

  constructor(message: string, code = 'ERR_INTERNAL', retryable = false, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.kind = KINDS[code] ?? 'Internal';
    this.retryable = retryable;
  }
}

/** Bad input: an invalid key, value, TTL, index or option. Nothing was written. */
export class InvalidArgumentError extends InterlockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_INVALID_ARGUMENT', false, options);
  }
}

/** A transaction or session save found keys at other indexes than expected. Nothing was written. */
export class ConcurrencyError extends InterlockError {
  /** Every failed compare. */
  readonly conflicts: Conflict[];

  constructor(message: string, conflicts: Conflict[] = []) {
    super(message, 'ERR_CONCURRENCY');
    this.conflicts = conflicts;
  }
}

/** A lock was not acquired before the timeout; its waiter entry was removed. */
export class LockTimeoutError extends InterlockError {
  constructor(message: string) {
    super(message, 'ERR_LOCK_TIMEOUT');
  }
}

/** The lease behind a held lock was lost: another holder may have had the lock since. */
export class LockLostError extends InterlockError {
  constructor(message: string) {
    super(message, 'ERR_LOCK_LOST');
  }
}

/** A lease expired or was revoked, or is unknown to the store. */
export class LeaseExpiredError extends InterlockError {
  constructor(message: string) {
    super(message, 'ERR_LEASE_EXPIRED');
  }
}

/** The store could not be reached or did not answer; the outcome of a write may be unknown. */
export class UnavailableError extends InterlockError {
  constructor(message: string) {
    super(message, 'ERR_UNAVAILABLE', true);
  }
}

/** The store refused the credentials. */
export class UnauthorizedError extends InterlockError {
  constructor(message: string) {
    super(message, 'ERR_UNAUTHORIZED');
  }
}

/** A wait was cancelled through its `AbortSignal`; a lock wait's waiter entry was removed. */
export class AbortError extends InterlockError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(message, 'ABORT_ERR', false, options);
  }
}

/** A bug in interlock or a store answering what it should not; the message says which. */
export class InternalError extends InterlockError {
  constructor(message: string) {
    super(message, 'ERR_INTERNAL');
  }
}

/** The marker the native module puts before an encoded error. */
const MARKER = 'interlock-error:';

interface Encoded {
  kind: string;
  message: string;
  conflicts?: Conflict[];
}

function build(e: Encoded): InterlockError {
  switch (e.kind) {
    case 'InvalidArgument':
      return new InvalidArgumentError(e.message);
    case 'Conflict':
      return new ConcurrencyError(e.message, e.conflicts ?? []);
    case 'LockTimeout':
      return new LockTimeoutError(e.message);
    case 'LockLost':
      return new LockLostError(e.message);
    case 'LeaseExpired':
      return new LeaseExpiredError(e.message);
    case 'Unavailable':
      return new UnavailableError(e.message);
    case 'Unauthorized':
      return new UnauthorizedError(e.message);
    default:
      return new InternalError(e.message);
  }
}

const RUST_TYPES: Record<string, string> = {
  String: 'a string',
  bool: 'true or false',
  f64: 'a number',
  u32: 'an integer',
  i64: 'an integer',
  u64: 'an integer',
  i32: 'an integer',
};

/** A conversion failure of the native layer, in the words of the package: what was expected and
 * what was given, never a Rust type or the binding library's name. The package's own checks
 * name the argument first; this is the last resort. */
function conversionMessage(message: string): string {
  const m = /Failed to convert JavaScript value `(\w+) ?([^`]*)` into rust type `([^`]+)`/.exec(message);
  if (m) {
    const [, given, text, rust] = m;
    const expected = RUST_TYPES[rust.replace(/^Option<(.*)>$/, '$1')] ?? 'another type';
    return `an argument must be ${expected}, not ${given.toLowerCase()}${text ? ` ${text}` : ''}`;
  }
  return message.replace(/\b(napi|serde|pyo3|wasm-bindgen)\b/gi, 'the native layer');
}

/** The interlock error a native call failed with. An argument the native layer could not
 * convert (a string where a number belongs) is an `InvalidArgumentError`. */
export function fromNative(err: unknown): unknown {
  if (err instanceof InterlockError || !(err instanceof Error)) {
    return err;
  }
  if (err.message.startsWith(MARKER)) {
    try {
      return build(JSON.parse(err.message.slice(MARKER.length)) as Encoded);
    } catch {
      return new InternalError(err.message);
    }
  }
  const code = (err as { code?: unknown }).code;
  if (code === 'InvalidArg' || code === 'NumberExpected' || code === 'StringExpected' ||
      code === 'ObjectExpected' || code === 'ArrayExpected' || code === 'BooleanExpected' ||
      err instanceof TypeError) {
    return new InvalidArgumentError(conversionMessage(err.message), { cause: err });
  }
  return new InternalError(err.message);
}

/** One timer holds the event loop open while any call is pending (a lock wait, a watch read),
 * whatever the native layer does, and lets go when none is: after `close()` nothing keeps the
 * process alive. */
let pending = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

function hold(): void {
  if (pending++ === 0) {
    keepAlive ??= setInterval(() => undefined, 2 ** 31 - 1);
    // Node's timers have ref/unref; a browser's are numbers and hold nothing open.
    (keepAlive as { ref?: () => void }).ref?.();
  }
}

function letGo(): void {
  if (--pending === 0) {
    (keepAlive as { unref?: () => void } | undefined)?.unref?.();
  }
}

/** Runs a native call, rejecting with the interlock error it failed with. */
export async function call<T>(f: () => Promise<T> | T): Promise<T> {
  hold();
  try {
    return await f();
  } catch (e) {
    throw fromNative(e);
  } finally {
    letGo();
  }
}

/** Runs a synchronous native call, throwing the interlock error it failed with. */
export function callSync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}
