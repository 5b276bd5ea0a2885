// interlock's Node benchmark: the binding's overhead over the Rust core (same process, same store:
// SQLite durable and sync=normal, mem:// and a 3-member etcd cluster), uncontended lock+unlock
// against the etcd3 package's Lock on the same etcd cluster and against redlock with ioredis on a
// local redis-server, and contended handoff latency between two processes against those peers.
// Prints a Markdown table on stdout; progress goes to stderr.
//
// Run it with `bash scripts/bench-node.sh [--quick] [--json PATH]`, which builds and installs the
// package and the pinned peers into bench/node/node_modules and starts the etcd cluster and a
// redis-server on loopback ports.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import * as handoff from './handoff.mjs';
import * as measure from './measure.mjs';
import * as report from './report.mjs';

const MAX_OPS = 10_000_000;
const PARTS = ['overhead', 'peers', 'handoff'];
const require = createRequire(import.meta.url);

const HELP = `Usage: bash scripts/bench-node.sh [options]

Measures interlock's Node package and prints a Markdown table.

Options:
  --quick             smoke run (seconds); rough numbers
  --json PATH         also write every batch and sample as JSON
  --batches N         timed batches per contender (default 7; quick 3)
  --batch-ms N        length of one batch (default 500; quick 50)
  --handoffs N        handoffs per lock (default 200; quick 20)
  --only PART         run only this part: overhead, peers or handoff (repeatable)
  --etcd URL          a running etcd cluster, as etcd://127.0.0.1:P1,... (the script starts one)
  --redis-port N      a running redis-server on 127.0.0.1 (the script starts one)
  -h, --help          this text
`;

function log(msg) {
  process.stderr.write(`bench-node: ${msg}\n`);
}

function usage(msg) {
  process.stderr.write(`bench-node: ${msg}\n\n${HELP}`);
  process.exit(2);
}

function positiveInt(name, value, fallback) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a positive integer, not '${value}'`);
  return n;
}

function parseConfig(argv) {
  let a;
  try {
    a = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        json: { type: 'string' },
        batches: { type: 'string' },
        'batch-ms': { type: 'string' },
        handoffs: { type: 'string' },
        only: { type: 'string', multiple: true },
        etcd: { type: 'string' },
        'redis-port': { type: 'string' },
        'redis-version': { type: 'string' },
        'etcd-version': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    usage(e.message);
  }
  if (a.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  for (const p of a.only ?? []) {
    if (!PARTS.includes(p)) usage(`--only takes ${PARTS.join(', ')}, not '${p}'`);
  }
  if (a.etcd !== undefined && !/^etcd:\/\/[^?]+$/.test(a.etcd)) {
    usage(`--etcd must look like etcd://127.0.0.1:2379,127.0.0.1:2380 (no query), not '${a.etcd}'`);
  }
  const cfg = {
    quick: Boolean(a.quick),
    json: a.json ?? null,
    batches: positiveInt('batches', a.batches, a.quick ? 3 : 7),
    batchS: positiveInt('batch-ms', a['batch-ms'], a.quick ? 50 : 500) / 1000,
    handoffs: positiveInt('handoffs', a.handoffs, a.quick ? 20 : 200),
    parts: new Set(a.only ?? PARTS),
    etcd: a.etcd ?? null,
    redis: a['redis-port'] ? `127.0.0.1:${positiveInt('redis-port', a['redis-port'])}` : null,
    redisVersion: a['redis-version'] ?? '',
    etcdVersion: a['etcd-version'] ?? '',
  };
  if (cfg.handoffs < 2) usage('--handoffs must be at least 2');
  return cfg;
}

function sqliteUrl(tmp, file, query = '') {
  return `sqlite://${path.join(tmp, file)}${query}`;
}

/** interlock's URL for the cluster, its keys under `prefix`. */
function etcdUrl(cfg, prefix) {
  return `${cfg.etcd}?prefix=${prefix}`;
}

/** The etcd3 package's form of the same endpoints (it speaks gRPC on the client port). */
function etcdHosts(cfg) {
  return cfg.etcd
    .slice('etcd://'.length)
    .split(',')
    .map((h) => `http://${h}`);
}

function redisAddr(cfg) {
  const [host, port] = cfg.redis.split(':');
  return { host, port: Number(port) };
}

/** The installed package's directory (its `exports` allow "./package.json"). */
function packageDir(name) {
  return path.dirname(require.resolve(`${name}/package.json`));
}

function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(packageDir(name), 'package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

/** The hidden native function the public package does not export: the same loops in Rust. */
function loadBenchCore() {
  const native = require(path.join(packageDir('interlock-db'), 'dist', 'native.js'));
  if (typeof native.benchCore !== 'function') {
    throw new Error(
      'the installed interlock package has no benchCore (built without bindings-node/src/bench.rs?); ' +
        'rebuild it with scripts/build-node.sh',
    );
  }
  return native.benchCore;
}

async function measureOverhead(tmp, cfg) {
  const { connect } = await import('interlock-db');
  const benchCore = loadBenchCore();
  const stores = [
    ['SQLite, durable (default)', sqliteUrl(tmp, 'overhead-full.db')],
    ['SQLite, sync=normal', sqliteUrl(tmp, 'overhead-normal.db', '?sync=normal')],
    ['mem://', 'mem://bench'],
  ];
  if (cfg.etcd) {
    stores.push(['etcd, 3 members', etcdUrl(cfg, 'bench/overhead/')]);
  } else {
    log('no --etcd: skipping the etcd rows of the overhead part');
  }
  const ops = [
    ['lock_unlock', 'lock+unlock (uncontended)'],
    ['put', '`put(key, n, {index})`'],
  ];
  const results = [];
  for (const [store, url] of stores) {
    const db = await connect(url);
    try {
      for (const [op, label] of ops) {
        log(`binding overhead: ${store}, ${op}`);
        const js =
          op === 'lock_unlock'
            ? measure.lockUnlock(db.lock('bench/node-lock'))
            : await measure.putLoop(db, 'bench/node-put');
        const rust = (n) => benchCore(url, op, n);
        const pair = [new measure.Contender('node', js, db), new measure.Contender('rust', rust, db)];
        await measure.interleave(pair, cfg.batches, cfg.batchS, MAX_OPS, true);
        results.push(new report.Overhead(store, url, op, label, pair[0].series, pair[1].series));
      }
    } finally {
      await db.close();
    }
  }
  return results;
}

/** For scale: the cost of one async round trip off the JS thread and back, through interlock
 * (`index()` on mem://, which does next to nothing in Rust) and through Node's own thread pool
 * (`fs.promises.access`), batches alternating. */
async function measureRoundTrip(cfg) {
  const { connect } = await import('interlock-db');
  const db = await connect('mem://bench-round-trip');
  try {
    log('round trip: interlock index() vs fs.promises.access');
    const loop = (f) => async (n) => {
      const start = measure.now();
      for (let i = 0; i < n; i++) await f();
      return measure.now() - start;
    };
    const pair = [
      new measure.Contender('interlock', loop(() => db.index())),
      new measure.Contender('node', loop(() => fs.promises.access('/'))),
    ];
    await measure.interleave(pair, cfg.batches, cfg.batchS, MAX_OPS, true);
    return { interlock: pair[0].series, node: pair[1].series };
  } finally {
    await db.close();
  }
}

const PEER_GROUPS = [
  ['etcd', 'On the same 3-member etcd cluster: interlock vs the etcd3 package'],
  ['local', 'On this machine: interlock on SQLite vs redlock + ioredis on a local redis-server'],
];

async function measurePeers(tmp, cfg) {
  const { connect } = await import('interlock-db');
  const candidates = []; // [label, what, group, reference, run, close, peer]
  if (cfg.etcd) {
    const db = await connect(etcdUrl(cfg, 'bench/peers/'));
    candidates.push([
      'interlock `Lock` (etcd)',
      'create txn (on the client\'s kept-alive lease) + delete txn, over the JSON gateway to the ' +
        'leader: 2 raft commits, each fsync\'d by a quorum; fair queue, fencing token',
      'etcd',
      true,
      measure.lockUnlock(db.lock('bench/peer-lock')),
      () => db.close(),
    ]);
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3({ hosts: etcdHosts(cfg) });
    candidates.push([
      `etcd3 ${packageVersion('etcd3')} \`Lock\``,
      'lease grant + its keep-alive stream + create txn; release: lease revoke. 3 raft commits, ' +
        'gRPC to a random member (a follower forwards to the leader); fails instead of waiting ' +
        'when held; no fencing token',
      'etcd',
      false,
      measure.lockUnlock(client.lock('node-bench/etcd3-peer-lock')),
      () => client.close(),
      true,
    ]);
  } else {
    log('no --etcd: skipping the etcd3 peer');
  }
  const durable = await connect(sqliteUrl(tmp, 'peers-full.db'));
  const normal = await connect(sqliteUrl(tmp, 'peers-normal.db', '?sync=normal'));
  candidates.push(
    [
      'interlock `Lock` (SQLite, durable)',
      '2 SQLite write txns, WAL, fsync each (synchronous=FULL): a granted lock survives power ' +
        'loss; fair queue, fencing token',
      'local',
      true,
      measure.lockUnlock(durable.lock('bench/peer-lock')),
      () => durable.close(),
    ],
    [
      'interlock `Lock` (SQLite, sync=normal)',
      '2 SQLite write txns, WAL, no fsync per commit: survives a crash of the process, not of ' +
        'the machine',
      'local',
      false,
      measure.lockUnlock(normal.lock('bench/peer-lock')),
      () => normal.close(),
    ],
  );
  if (cfg.redis) {
    const { default: Redis } = await import('ioredis');
    const { default: Redlock } = await import('redlock');
    const redis = new Redis(redisAddr(cfg));
    const redlock = new Redlock([redis], { retryCount: 0 });
    candidates.push([
      `redlock ${packageVersion('redlock')} + ioredis ${packageVersion('ioredis')} (ttl 20 s)`,
      'Lua SET NX PX / compare-and-delete over loopback TCP, one redis-server with no ' +
        'persistence: a restart forgets every lock; no queue, no fencing token',
      'local',
      false,
      measure.redlockUnlock(redlock, 'node-bench/redlock-peer-lock', 20_000),
      () => redis.quit(),
      true,
    ]);
  } else {
    log('no --redis-port: skipping the redlock peer');
  }
  const contenders = candidates.map(([label, , , , run]) => new measure.Contender(label, run));
  log('lock+unlock vs peers: ' + contenders.map((c) => c.name).join(', '));
  try {
    await measure.interleave(contenders, cfg.batches, cfg.batchS, MAX_OPS);
  } finally {
    for (const c of candidates) await c[5]();
  }
  return candidates.map(
    ([label, what, group, reference, , , peer], i) =>
      new report.Peer(label, what, contenders[i].series, group, reference, Boolean(peer)),
  );
}

async function measureHandoff(tmp, cfg) {
  const { connect } = await import('interlock-db');
  const lockName = 'node-bench/handoff';
  const prepareInterlock = (url) => async () => {
    const db = await connect(url);
    await db.close();
  };
  const specs = [];
  const durableUrl = sqliteUrl(tmp, 'handoff-full.db');
  specs.push([
    {
      key: 'interlock-full',
      label: 'interlock `Lock` (SQLite, durable)',
      kind: 'interlock',
      target: durableUrl,
      pollS: 0,
      note: 'inotify on the store\'s notify file',
      group: 'local',
      reference: true,
    },
    prepareInterlock(durableUrl),
  ]);
  if (cfg.redis) {
    const { default: Redis } = await import('ioredis');
    const { default: Redlock } = await import('redlock');
    const probe = new Redlock([{}]);
    specs.push([
      {
        key: 'redlock',
        label: `redlock ${packageVersion('redlock')} + ioredis (retryCount −1)`,
        kind: 'redlock',
        target: cfg.redis,
        pollS: probe.retryDelay / 1000,
        note: `polling, redlock's default retryDelay ${probe.retryDelay} ms ± retryJitter ${probe.retryJitter} ms`,
        group: 'local',
        reference: false,
      },
      async () => {
        const redis = new Redis(redisAddr(cfg));
        await redis.del(lockName);
        await redis.quit();
      },
    ]);
  }
  if (cfg.etcd) {
    const url = etcdUrl(cfg, 'bench/handoff/');
    specs.push([
      {
        key: 'interlock-etcd',
        label: 'interlock `Lock` (etcd)',
        kind: 'interlock',
        target: url,
        pollS: 0,
        note: 'watch event: the holder\'s key deleted',
        group: 'etcd',
        reference: true,
      },
      prepareInterlock(url),
    ]);
    const { Etcd3 } = await import('etcd3');
    specs.push([
      {
        key: 'etcd3',
        label: `etcd3 ${packageVersion('etcd3')} \`Lock\``,
        kind: 'etcd3',
        target: etcdHosts(cfg),
        pollS: 0.02,
        note: 'polling: etcd3\'s Lock does not wait, so acquire() is retried every 20 ms (a failed try is a lease grant, a txn and a lease revoke)',
        group: 'etcd',
        reference: false,
      },
      async () => {
        const client = new Etcd3({ hosts: etcdHosts(cfg) });
        await client.delete().key(lockName);
        client.close();
      },
    ]);
  }
  const results = [];
  for (const [spec, prepare] of specs) {
    spec.lockName = lockName;
    log(`handoff: ${spec.label}, ${cfg.handoffs} handoffs`);
    const r = await handoff.run(spec, cfg.handoffs, prepare);
    if (r.error) log(`handoff: ${spec.label} failed: ${r.error}`);
    results.push(r);
  }
  return results;
}

function versions(cfg) {
  const out = {};
  for (const name of ['interlock-db', 'etcd3', 'redlock', 'ioredis']) out[name] = packageVersion(name);
  if (cfg.etcdVersion) {
    // `etcd --version`: "etcd Version: 3.4.30\nGit SHA: ..."
    const m = /Version:\s*(\S+)/.exec(cfg.etcdVersion);
    out['etcd server'] = m ? m[1] : cfg.etcdVersion;
  }
  if (cfg.redisVersion) {
    // `redis-server --version`: "Redis server v=7.0.15 sha=... malloc=... bits=64 build=..."
    const m = /\bv=(\S+)/.exec(cfg.redisVersion);
    out['Redis server'] = m ? m[1] : cfg.redisVersion;
  }
  return out;
}

async function main(argv) {
  const cfg = parseConfig(argv);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'interlock-nodebench-'));
  const started = measure.now();
  log(
    `${cfg.batches} batches of ~${Math.round(cfg.batchS * 1000)} ms per contender, ` +
      `${cfg.handoffs} handoffs per lock, in ${tmp}`,
  );
  let rep;
  try {
    rep = {
      machine: report.machine(tmp),
      versions: versions(cfg),
      quick: cfg.quick,
      batches: cfg.batches,
      batchMs: Math.round(cfg.batchS * 1000),
      handoffs: cfg.handoffs,
      peerGroups: PEER_GROUPS,
      overhead: cfg.parts.has('overhead') ? await measureOverhead(tmp, cfg) : [],
      roundTrip: cfg.parts.has('overhead') ? await measureRoundTrip(cfg) : null,
      peers: cfg.parts.has('peers') ? await measurePeers(tmp, cfg) : [],
      handoff: cfg.parts.has('handoff') ? await measureHandoff(tmp, cfg) : [],
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  rep.seconds = measure.now() - started;
  process.stdout.write(report.markdown(rep));
  if (cfg.json) {
    report.writeJson(cfg.json, rep);
    log(`wrote ${cfg.json}`);
  }
  // Every client is closed; should a library still hold the event loop, do not hang on it.
  setTimeout(() => {
    log('a handle is still open after the run; exiting anyway');
    process.exit(process.exitCode ?? 0);
  }, 5000).unref();
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`bench-node: ${e?.stack ?? e}\n`);
  process.exit(1);
});
