// The WebAssembly package in headless Chromium: every case of cases.mjs, run inside a page
// served from another origin than the interlock server (so the server's CORS allow-list is
// exercised for real), against the server (http://, through the browser's fetch) and the
// in-page store (mem://).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cases, serverCases } from './cases.mjs';
import { TOKEN, serve } from './serve.mjs';
import { launch, staticServer } from './browser.mjs';

let browser;
let page;
let files;
let server;
const consoleErrors = [];

before(async () => {
  files = await staticServer();
  server = await serve(['--cors-origin', files.url]);
  browser = await launch();
  page = await browser.newPage();
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`${files.url}/`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await files?.close();
});

/** Runs one case in the page; resolves to null, or the failure's message. */
function inPage(name, url, token) {
  return page.evaluate(async ({ name, url, token }) => {
    const interlock = await import('/pkg/index.js');
    const { cases, serverCases } = await import('/cases.mjs');
    try {
      await ({ ...cases, ...serverCases })[name]({ interlock, url, token });
      return null;
    } catch (e) {
      return `${e?.constructor?.name}: ${e?.message}\n${e?.stack ?? ''}`;
    }
  }, { name, url, token });
}

describe('in Chromium, http:// (a real server, another origin)', () => {
  for (const name of Object.keys({ ...cases, ...serverCases })) {
    test(name, async () => {
      assert.equal(await inPage(name, server.url, TOKEN), null);
    });
  }
});

describe('in Chromium, mem:// (in the page)', () => {
  for (const name of Object.keys(cases)) {
    test(name, async () => {
      assert.equal(await inPage(name, 'mem://browser-tests'), null);
    });
  }
});

test('an origin that is not on the allow-list cannot read the server', async () => {
  const other = await staticServer();
  const strange = await browser.newPage();
  try {
    await strange.goto(`${other.url}/`);
    const outcome = await strange.evaluate(async ({ url, token }) => {
      const interlock = await import('/pkg/index.js');
      try {
        await interlock.connect(url, { token });
        return 'connected';
      } catch (e) {
        return e.code;
      }
    }, { url: server.url, token: TOKEN });
    assert.equal(outcome, 'ERR_UNAVAILABLE');
  } finally {
    await strange.close();
    await other.close();
  }
});

test('no uncaught errors in the page', () => {
  assert.deepEqual(consoleErrors, []);
});
