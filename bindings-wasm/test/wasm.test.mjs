// The WebAssembly package in Node: every case of cases.mjs against a real `interlock serve` over
// SQLite (http://, through Node's fetch) and against the in-process store (mem://), through the
// built package (dist/), plus the package's shape: the native module has exactly the exports
// and members the shared TypeScript layer is typed against.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as interlock from '../dist/index.js';
import * as native from '../dist/native.js';
import { cases, serverCases } from './cases.mjs';
import { TOKEN, serve } from './serve.mjs';

describe('http:// (a real server over SQLite)', () => {
  let server;
  before(async () => { server = await serve(); });
  after(async () => { await server?.stop(); });
  for (const [name, run] of Object.entries({ ...cases, ...serverCases })) {
    test(name, () => run({ interlock, url: server.url, token: TOKEN }));
  }
  test('INTERLOCK_TOKEN is the token when none is given', async () => {
    process.env.INTERLOCK_TOKEN = TOKEN;
    try {
      const db = await interlock.connect(server.url);
      assert.equal(typeof (await db.index()), 'number');
      await db.close();
    } finally {
      delete process.env.INTERLOCK_TOKEN;
    }
    await assert.rejects(interlock.connect(server.url), { code: 'ERR_UNAUTHORIZED' });
  });
});

describe('mem:// (in process)', () => {
  for (const [name, run] of Object.entries(cases)) {
    test(name, () => run({ interlock, url: 'mem://wasm-tests' }));
  }
  test('an expired lease frees its lock for a waiter with no other write', async () => {
    const db = await interlock.connect('mem://wasm-expiry');
    const grant = await db.grant(1);
    await db.set('job/owner', 'crashed', { lease: grant });
    const started = await db.index();
    const events = db.watch('job/', { fromIndex: started + 1 });
    const { value } = await events.next();
    assert.deepEqual([value.type, value.key], ['delete', 'job/owner']);
    await events.return();
    await db.close();
  });
});

test('connect() with no URL and no INTERLOCK_URL says what to give', async () => {
  delete process.env.INTERLOCK_URL;
  await assert.rejects(interlock.connect(), (e) => {
    assert.ok(e instanceof interlock.InvalidArgumentError, String(e));
    assert.match(e.message, /http:\/\/HOST:PORT/);
    return true;
  });
});

test('the native module has exactly what the shared TypeScript layer is typed against', () => {
  const declared = readFileSync(new URL('../dist/native.d.ts', import.meta.url), 'utf8');
  const functions = [...declared.matchAll(/^export declare function (\w+)/gm)].map((m) => m[1]).sort();
  const classes = [...declared.matchAll(/^export declare class (\w+) \{([\s\S]*?)^\}/gm)];
  const exported = Object.keys(native).sort();
  assert.deepEqual(exported, [...functions, ...classes.map((c) => c[1])].sort());
  for (const [, name, body] of classes) {
    const members = [...body.matchAll(/^\s+(?:get )?(\w+)\(/gm)].map((m) => m[1]).sort();
    const proto = native[name].prototype;
    const actual = Object.getOwnPropertyNames(proto)
      .filter((m) => m !== 'constructor' && m !== 'free' && !m.startsWith('__') && m !== 'share')
      .filter((m) => !(typeof m === 'symbol'))
      .sort();
    assert.deepEqual(actual, members, `the members of ${name}`);
  }
});
