// Starts a real `interlock serve` (the binary named by INTERLOCK_SERVER_EXE) over a fresh SQLite
// file on a free loopback port, for the package's tests.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const TOKEN = 'wasm-test-token';

/** Resolves to { url, child, stop() }; extra arguments go to `serve`. */
export async function serve(extra = []) {
  const exe = process.env.INTERLOCK_SERVER_EXE;
  if (!exe) {
    throw new Error('INTERLOCK_SERVER_EXE must name the interlock binary (bash scripts/test-wasm.sh sets it)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'interlock-wasm-'));
  const env = { ...process.env };
  delete env.INTERLOCK_TOKEN;
  const child = spawn(exe, ['serve', '--store', `sqlite://${join(dir, 'store.db')}`, '--listen', '127.0.0.1:0',
    '--token', TOKEN, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 30 s: ${err}`)), 30_000);
    createInterface({ input: child.stdout }).once('line', (line) => { clearTimeout(timer); resolve(line); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code}): ${err}`)); });
  });
  const url = first.slice(first.lastIndexOf(' on ') + 4).trim();
  return {
    url,
    child,
    log: () => err,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGKILL');
    }),
  };
}
