// The printed Markdown report and the JSON one (`--json PATH`), and the machine they were
// measured on. The typographic signs are the other benchmarks' (en dash, multiplication sign,
// minus sign).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { median } from './measure.mjs';

/** One operation on one store, through Node and through the Rust core. */
export class Overhead {
  constructor(store, url, op, label, node, rust) {
    Object.assign(this, { store, url, op, label, node, rust });
  }

  /** Node time/op ÷ Rust time/op, of the medians. */
  ratio() {
    return this.node.medianTimePerOp() / this.rust.medianTimePerOp();
  }

  /** Node ÷ Rust time per op of each pair of adjacent batches. */
  pairRatios() {
    return this.node.batches.map((b, i) => b.timePerOp / this.rust.batches[i].timePerOp);
  }
}

/** A lock in the peers table; `group` names the interlock row it is compared with (the group's
 * `reference`); `peer`: another package's lock (the summary compares those). */
export class Peer {
  constructor(label, what, series, group, reference = false, peer = false) {
    Object.assign(this, { label, what, series, group, reference, peer });
  }
}

export function machine(tmpdir) {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? os.arch(),
    cores: String(os.availableParallelism?.() ?? cpus.length),
    kernel: `${os.type()} ${os.release()}`,
    node: `Node ${process.version}`,
    tmpdir,
    tmpdir_fs: filesystem(tmpdir),
  };
}

/** The type and device of the filesystem holding `p`, from /proc/mounts. */
function filesystem(p) {
  const real = fs.realpathSync(p);
  let best = ['', 'unknown', '?'];
  try {
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [dev, rawMnt, fstype] = line.split(' ');
      if (!fstype) continue;
      const mnt = rawMnt.replaceAll('\\040', ' ');
      const inside = real === mnt || real.startsWith(mnt.replace(/\/$/, '') + '/');
      if (inside && mnt.length >= best[0].length) best = [mnt, fstype, dev];
    }
  } catch {
    // no /proc here
  }
  return `${best[1]} (${best[2]} on ${best[0] || '?'})`;
}

export function ns(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (n < 0) return '−' + ns(-n);
  if (n < 1e3) return `${n.toFixed(0)} ns`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} µs`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)} ms`;
  return `${(n / 1e9).toFixed(2)} s`;
}

/** A difference in nanoseconds, with its sign. */
function signed(n) {
  return n >= 0 ? `+${ns(n)}` : ns(n);
}

export function rate(r) {
  return r >= 100 ? Math.round(r).toLocaleString('en-US') : r.toFixed(1);
}

function times(x) {
  return x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`;
}

/** "A is N× faster" from two rates (or two latencies with `lowerIsBetter`). */
function faster(aName, a, bName, b, lowerIsBetter = false) {
  if (!a || !b) return '–';
  const r = lowerIsBetter ? b / a : a / b;
  return r >= 1 ? `${aName} ${times(r)} faster` : `${bName} ${times(1 / r)} faster`;
}

function reference(rep, group) {
  return rep.peers.find((p) => p.group === group && p.reference) ?? null;
}

function referenceHandoff(rep, group) {
  return rep.handoff.find((h) => h.spec.group === group && h.spec.reference) ?? null;
}

function summary(rep) {
  const rows = [];
  for (const o of rep.overhead) {
    rows.push([
      `${o.label}, ${o.store}: Node vs Rust core`,
      ns(o.node.medianTimePerOp() * 1e9),
      ns(o.rust.medianTimePerOp() * 1e9),
      `Node ${o.ratio().toFixed(3)}× the core's time (${signed((o.node.medianTimePerOp() - o.rust.medianTimePerOp()) * 1e9)})`,
    ]);
  }
  for (const p of rep.peers) {
    const ref = reference(rep, p.group);
    if (!p.peer || !ref) continue;
    rows.push([
      `uncontended lock+unlock: ${ref.label} vs ${p.label}`,
      `${rate(ref.series.medianRate())}/s`,
      `${rate(p.series.medianRate())}/s`,
      faster('interlock', ref.series.medianRate(), p.label.split(' ')[0], p.series.medianRate()),
    ]);
  }
  for (const h of rep.handoff) {
    const ref = referenceHandoff(rep, h.spec.group);
    if (h.spec.reference || !ref) continue;
    const pair = (r) =>
      r.error ? 'failed' : `${ns(r.percentile(50))} / ${ns(r.percentile(99))}`;
    rows.push([
      `handoff p50 / p99: ${ref.spec.label} vs ${h.spec.label}`,
      pair(ref),
      pair(h),
      ref.error || h.error
        ? '–'
        : `p50: ${faster('interlock', ref.percentile(50), h.spec.label.split(' ')[0], h.percentile(50), true)}`,
    ]);
  }
  return rows;
}

export function markdown(rep) {
  const out = [];
  const w = (s) => out.push(s);
  const m = rep.machine;
  const quick = rep.quick ? ' (--quick: smoke run, numbers are rough)' : '';
  w(`\n# interlock Node benchmark${quick}\n`);
  w(
    `Machine: ${m.cores} CPUs (${m.cpu}), ${m.kernel}, ${m.node}; temp dir ${m.tmpdir} on ` +
      `${m.tmpdir_fs}. Run took ${rep.seconds.toFixed(1)} s.`,
  );
  w('Versions: ' + Object.entries(rep.versions).map(([k, v]) => `${k} ${v}`).join(', ') + '.\n');

  const rows = summary(rep);
  if (rows.length) {
    w('## Summary\n');
    w('| measure | interlock (Node) | core or peer | ratio |');
    w('|---|---:|---:|---|');
    for (const r of rows) w(`| ${r.join(' | ')} |`);
    w('');
  }

  if (rep.overhead.length) {
    w('## A. Binding overhead: the Node API vs the Rust core\n');
    w(
      `Same process, same store (a fresh file per SQLite mode; on etcd, the cluster below). ` +
        `Median of ${rep.batches} batches each, Node and Rust batches alternating (the order ` +
        `swapped every round), each about ${rep.batchMs} ms and the same op count on both ` +
        'sides. The Rust side is the package\'s hidden `benchCore` (dist/native.js: the same ' +
        'loop in Rust, on its own client). Ratio: Node time/op ÷ Rust time/op, of the medians.\n',
    );
    w(
      '| store | operation | Node ops/s | Rust ops/s | Node time/op | Rust time/op ' +
        '| Node − Rust per op | Node ÷ Rust (pairs: median; min–max) | store index Δ/op Node / Rust |',
    );
    w('|---|---|---:|---:|---:|---:|---:|---|---|');
    for (const o of rep.overhead) {
      const [js, rs] = [o.node, o.rust];
      const pairs = o.pairRatios();
      const spread = `${median(pairs).toFixed(2)}; ${Math.min(...pairs).toFixed(2)}–${Math.max(...pairs).toFixed(2)}`;
      const [ijs, irs] = [js.indexPerOp(), rs.indexPerOp()];
      const idx = ijs !== null && irs !== null ? `${ijs.toFixed(2)} / ${irs.toFixed(2)}` : '–';
      w(
        `| ${o.store} | ${o.label} | ${rate(js.medianRate())} | ${rate(rs.medianRate())} ` +
          `| ${ns(js.medianTimePerOp() * 1e9)} | ${ns(rs.medianTimePerOp() * 1e9)} ` +
          `| ${ns((js.medianTimePerOp() - rs.medianTimePerOp()) * 1e9)} ` +
          `| ${o.ratio().toFixed(3)}× (${spread}) | ${idx} |`,
      );
    }
    w(
      '\nPairs: Node ÷ Rust of the two adjacent batches of each round. Store index Δ/op: ' +
        'commits per op (on etcd: revisions); for lock+unlock the Rust side\'s includes ' +
        'the untimed warm-up cycle of each call.\n',
    );
  }
  if (rep.roundTrip) {
    const [il, nd] = [rep.roundTrip.interlock, rep.roundTrip.node];
    w(
      `For scale: one async call that does next to nothing in Rust (\`index()\` on mem://) took ` +
        `${ns(il.medianTimePerOp() * 1e9)}, and one round trip through Node's own thread pool ` +
        `(\`fs.promises.access('/')\`) took ${ns(nd.medianTimePerOp() * 1e9)} (medians, batches ` +
        'alternating). Most of the overhead above is that hand-off to another thread and back.\n',
    );
  }

  if (rep.peers.length) {
    w('## B. Uncontended lock+unlock vs the locks Node users use (one process, acquire() then release())\n');
    w(
      `Median of ${rep.batches} batches each, the batches of every row of both tables interleaved ` +
        `(order rotated every round), each about ${rep.batchMs} ms.\n`,
    );
    for (const [group, title] of rep.peerGroups) {
      const members = rep.peers.filter((p) => p.group === group);
      if (!members.length) continue;
      const ref = reference(rep, group);
      w(`### ${title}\n`);
      w(
        '| lock | what an acquire+release does, and what it guarantees | median ops/s | time/op ' +
          `| batch min–max ops/s | ops/s ÷ ${ref ? ref.label : 'interlock'} |`,
      );
      w('|---|---|---:|---:|---:|---:|');
      for (const p of members) {
        const [lo, hi] = p.series.minMaxRate();
        const vs = ref ? `${(p.series.medianRate() / ref.series.medianRate()).toFixed(2)}×` : '–';
        w(
          `| ${p.label} | ${p.what} | ${rate(p.series.medianRate())} ` +
            `| ${ns(p.series.medianTimePerOp() * 1e9)} | ${rate(lo)}–${rate(hi)} | ${vs} |`,
        );
      }
      w('');
    }
  }

  if (rep.handoff.length) {
    w('## C. Contended handoff between two processes\n');
    w(
      'Two forked processes alternately hold the lock and wait for it: t0 = ' +
        '`process.hrtime.bigint()` right before release() in the holder, t1 right after ' +
        'acquire() resolved in the waiter. The holder releases only once the waiter has ' +
        'announced its acquire (for interlock: once the waiter is in the lock\'s queue), plus ' +
        '5 ms so the waiter is blocked, plus a random 0–P (P: the lock\'s poll period) so the ' +
        'release falls at a random point of a polling waiter\'s cycle.\n',
    );
    w('| lock | waiter wakes by | samples | p50 | p90 | p99 | max | p50 ÷ interlock p50 (same store kind) |');
    w('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const h of rep.handoff) {
      const ref = referenceHandoff(rep, h.spec.group);
      const p50 = h.percentile(50);
      const refP50 = ref?.percentile(50);
      const vs = h.spec.reference ? '(reference)' : p50 !== null && refP50 ? `${(p50 / refP50).toFixed(1)}×` : '–';
      const mx = h.samplesNs.length ? Math.max(...h.samplesNs) : null;
      const label = h.error ? `${h.spec.label} (failed: ${h.error.split('\n')[0]})` : h.spec.label;
      w(
        `| ${label} | ${h.spec.note} | ${h.samplesNs.length} | ${ns(p50)} ` +
          `| ${ns(h.percentile(90))} | ${ns(h.percentile(99))} | ${ns(mx)} | ${vs} |`,
      );
    }
    const notes = rep.handoff
      .filter((h) => h.unqueued)
      .map((h) => `${h.spec.label}: in ${h.unqueued} rounds the waiter was not seen in the queue within 1 s`);
    if (notes.length) w('\nWarnings: ' + notes.join('; ') + '.');
    w('');
  }
  return out.join('\n') + '\n';
}

export function asJson(rep) {
  return {
    machine: rep.machine,
    versions: rep.versions,
    quick: rep.quick,
    batches: rep.batches,
    batch_ms: rep.batchMs,
    handoffs: rep.handoffs,
    seconds: rep.seconds,
    overhead: rep.overhead.map((o) => ({
      store: o.store,
      url: o.url,
      op: o.op,
      node: o.node.toJSON(),
      rust: o.rust.toJSON(),
      ratio_node_over_rust: o.ratio(),
      pair_ratios: o.pairRatios(),
    })),
    round_trip: rep.roundTrip
      ? { interlock_index: rep.roundTrip.interlock.toJSON(), node_fs_access: rep.roundTrip.node.toJSON() }
      : null,
    peers: rep.peers.map((p) => ({
      label: p.label,
      what: p.what,
      group: p.group,
      reference: p.reference,
      peer: p.peer,
      ...p.series.toJSON(),
    })),
    handoff: rep.handoff.map((h) => ({ group: h.spec.group, reference: h.spec.reference, ...h.toJSON() })),
  };
}

export function writeJson(file, rep) {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(asJson(rep), null, 2) + '\n');
}
