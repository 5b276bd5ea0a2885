// Starts a real `interlock serve` (the binary named by INTERLOCK_SERVER_EXE; scripts/test-node.sh
// builds it) with a token, on a free loopback port, over `store`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { within } from './stores.mjs';

export const TOKEN = 'node-test-token';

/** Resolves to { url, child, stop() }. */
export async function serve(store) {
  const exe = process.env.INTERLOCK_SERVER_EXE;
  assert.ok(exe, 'INTERLOCK_SERVER_EXE must name the interlock binary (bash scripts/test-node.sh sets it)');
  const env = { ...process.env };
  delete env.INTERLOCK_TOKEN;
  const child = spawn(exe, ['serve', '--store', store, '--listen', '127.0.0.1:0', '--token', TOKEN],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const lines = createInterface({ input: child.stdout });
  const first = await within(new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${err}`)));
  }), 'the server starting');
  const url = first.slice(first.lastIndexOf(' on ') + 4).trim();
  return {
    url,
    child,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGKILL');
    }),
  };
}
