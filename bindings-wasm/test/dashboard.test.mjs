// The dashboard served by `interlock serve` at /, in headless Chromium, with real worker
// processes taking and releasing locks through the same server: what it shows updates live, and
// its put, delete and force-release act on the store. Saves a screenshot to
// $INTERLOCK_ARTIFACTS/dashboard.png (default target/artifacts/).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TOKEN, serve } from './serve.mjs';
import { launch } from './browser.mjs';

const artifacts = process.env.INTERLOCK_ARTIFACTS ?? fileURLToPath(new URL('../../target/artifacts', import.meta.url));
let server;
let browser;
let page;
const workers = [];
const pageErrors = [];

/** Starts a worker; resolves once it has reported `event` (with its report). */
function worker(role, name, id, event) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../examples/worker.mjs', import.meta.url)), role, name, id], {
    env: { ...process.env, INTERLOCK_URL: server.url, INTERLOCK_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  workers.push(child);
  const reports = [];
  createInterface({ input: child.stdout }).on('line', (line) => reports.push(JSON.parse(line)));
  child.reports = reports;
  return child;
}

async function until(what, check, seconds = 20) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function rest(method, path) {
  const response = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: response.status, body: await response.json() };
}

before(async () => {
  server = await serve();
  worker('cycle', 'printer', 'worker-1');
  worker('cycle', 'printer', 'worker-2');
  const stuck = worker('hold', 'reports', 'stuck');
  await until('the stuck holder', () => stuck.reports.length > 0);
  worker('hold', 'reports', 'next-in-line');
  await until('a waiter behind it', async () => (await rest("GET", "/v1/locks/reports")).body.length === 2);
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(`${server.url}/#token=${TOKEN}`);
  await page.waitForSelector('#status[data-state="live"]', { timeout: 20_000 });
});

after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await browser?.close();
  await server?.stop();
});

test('the token is taken from the fragment and then dropped from the address', async () => {
  assert.ok(!page.url().includes(TOKEN), page.url());
});

test('values update live as the workers write', async () => {
  const cell = page.locator('tr[data-key="jobs/worker-1"] td.value');
  await cell.waitFor({ timeout: 20_000 });
  const first = await cell.textContent();
  await until('a new value without reloading', async () => (await cell.textContent()) !== first);
  const { turn } = JSON.parse(await cell.textContent());
  assert.ok(turn >= 2, `turn ${turn}`);
});

test('locks show the holder, the fencing token and the waiters in order, with TTLs counting down', async () => {
  const reports = page.locator('.lock[data-name="reports"] li');
  await until('both entries of the reports lock', async () => (await reports.count()) === 2);
  const texts = await reports.allTextContents();
  assert.match(texts[0], /^holder: stuck · token \d+/);
  assert.match(texts[1], /^waiter 1: next-in-line · token \d+/);
  const ttl = page.locator('.lock[data-name="reports"] li.holder .ttl');
  const a = parseFloat(await ttl.textContent());
  await until('the TTL to move', async () => parseFloat(await ttl.textContent()) !== a);
  assert.ok(a > 0 && a <= 5, `ttl ${a}`);
  const printer = page.locator('.lock[data-name="printer"] li.holder');
  await printer.waitFor();
  assert.match(await printer.textContent(), /worker-[12]/);
});

test('leases behind the locks are listed with their TTL', async () => {
  const holder = (await rest("GET", "/v1/locks/reports")).body[0];
  const row = page.locator(`tr[data-lease="${holder.lease}"]`);
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.textContent(), /lock 'reports' \(holder\)/);
  await until('its TTL', async () => /\d+\.\d s/.test(await row.locator('.ttl').textContent()));
});

test('put and delete from the page act on the store', async () => {
  await page.fill('#put-key', 'dash/note');
  await page.fill('#put-value', '{"hello": "world"}');
  await page.fill('#put-index', '0');
  await page.click('#put-form button');
  await until('the stored note', async () => (await rest('GET', '/v1/kv/dash/note')).status === 200);
  assert.deepEqual((await rest('GET', '/v1/kv/dash/note')).body.value, { hello: 'world' });
  await page.locator('tr[data-key="dash/note"]').waitFor();
  await page.click('#put-form button');
  await until('the compare failure', async () => /Not written/.test(await page.textContent('#message')));
  await page.click('tr[data-key="dash/note"] button');
  await until('the deleted note', async () => (await rest('GET', '/v1/kv/dash/note')).status === 404);
  await page.locator('tr[data-key="dash/note"]').waitFor({ state: 'detached' });
});

test('force-release needs the holder\'s token, then hands the lock to the next waiter', async () => {
  const before = (await rest("GET", "/v1/locks/reports")).body;
  const form = page.locator('.lock[data-name="reports"] form.release');
  await form.locator('input').fill(String(before[0].token + 1000));
  await form.locator('button').click();
  await until('the refusal', async () => /Not released/.test(await page.textContent('#message')));
  assert.equal((await rest("GET", "/v1/locks/reports")).body[0].owner.owner, 'stuck');

  await page.locator('.lock[data-name="reports"] form.release input').fill(String(before[0].token));
  await page.locator('.lock[data-name="reports"] form.release button').click();
  const next = workers[3];
  await until('the waiter to take the lock', () => next.reports.length > 0);
  assert.ok(next.reports[0].token > before[0].token, 'the next holder has a greater token');
  const holder = page.locator('.lock[data-name="reports"] li.holder');
  await until('the page to show the new holder', async () => /next-in-line/.test(await holder.textContent()));
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
});

test('no uncaught errors in the page', () => {
  assert.deepEqual(pageErrors, []);
});
