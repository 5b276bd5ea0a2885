// A type test of the public API, checked by `tsc --noEmit`: what must compile does, and each
// `@ts-expect-error` line must fail to compile.
import {
  connect, Client, ConcurrencyError, Conflict, Entry, InterlockError, Lock, PutResult, Session,
  WatchEvent,
} from 'interlock-db';

async function api(): Promise<void> {
  const db: Client = await connect();
  await connect('sqlite:///tmp/x.db', { token: 't' });
  const e: Entry<{ n: number }> | null = await db.get<{ n: number }>('k');
  if (e) {
    const n: number = e.value.n;
    const index: number = e.index;
    void n; void index;
  }
  const r: PutResult<string> = await db.put('k', 'v', 0);
  const ok: boolean = r.successful;
  void ok;
  const idx: number = await db.set('k', { any: ['json'] });
  void idx;
  await db.delete('k', { index: 3 });
  const commit: number = await db.txn().check('a', 1).put('b', 2, 0).delete('c').commit();
  void commit;
  for await (const ev of db.watch<number>('p/', { fromIndex: 1, signal: AbortSignal.timeout(1000) })) {
    const w: WatchEvent<number> = ev;
    const kind: 'put' | 'delete' = w.type;
    void kind;
  }
  const lock: Lock = db.lock('name', { ttl: 5, owner: 'me' });
  const token: number = await lock.acquire({ timeout: 1, signal: new AbortController().signal });
  const fence: number | null = lock.fencingToken;
  const lost: boolean = lock.lost;
  const waited: Promise<boolean> = lock.waitLost({ timeout: 1 });
  void waited;
  lock.onLost(() => undefined);
  await lock[Symbol.asyncDispose]();
  void token; void fence; void lost;
  const out: string = await db.withLock('name', { ttl: 5, timeout: 2 }, async (held) => {
    const t: number | null = held.fencingToken;
    void t;
    return 'done';
  });
  void out;
  const short: number = await db.withLock('name', async (held, signal: AbortSignal) => {
    signal.throwIfAborted();
    return held.fencingToken ?? 0;
  });
  void short;
  const closed: boolean = db.closed;
  void closed;
  const s: Session = db.session({ optimistic: false });
  const doc = await s.load<{ funds: number }>('accounts/1');
  if (doc) doc.funds += 1;
  const saved: number | null = await s.saveChanges();
  void saved;
  const n: number = await db.retry(async () => 1, { attempts: 3 });
  void n;
  // null means "not given", as undefined does; indexes may be bigints.
  await connect(null, null);
  await db.put('k', 1, 5n, { lease: null });
  await db.txn().check('a', 1n).put('b', 2, 0n).delete('c', { index: null }).commit();
  await db.list(null, { after: null, limit: null });
  db.watch(null, { fromIndex: 2n, signal: null }).close();
  db.lock('name', { ttl: null, owner: null, lease: null });
  await db.withLock('name', null, () => 1);
  db.session({ optimistic: null });
  await db.retry(async () => 1, { attempts: null });
  try {
    await db.close();
  } catch (err) {
    if (err instanceof ConcurrencyError) {
      const c: Conflict[] = err.conflicts;
      void c;
    }
    if (err instanceof InterlockError) {
      const code: string = err.code;
      const retry: boolean = err.retryable;
      void code; void retry;
    }
  }

  // @ts-expect-error put is a compare-exchange: its index is required (set writes unconditionally)
  await db.put('k', 1);
  // @ts-expect-error an index is a number or a bigint
  await db.put('k', 1, '5');
  // @ts-expect-error acquire resolves to the fencing token, a number
  const wrong: string = await lock.acquire();
  void wrong;
  // @ts-expect-error withLock needs a callback
  await db.withLock('name', {});
  // @ts-expect-error close() is asynchronous: its promise must be awaited, not used as void
  const sync: undefined = db.close();
  void sync;
  // @ts-expect-error there is no putIfAbsent
  await db.putIfAbsent('k', 1);
}
void api;
