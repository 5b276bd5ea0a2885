// The interlock dashboard: values under a prefix, locks with their holder, fencing token,
// waiters in order and lease TTL, and the leases behind them, all kept live by watching the
// store. It is a client like any other, on the WebAssembly package served at /pkg/, with the
// token the user gives it (kept for this tab only).
import { connect, UnauthorizedError } from '/pkg/index.js';

const $ = (selector) => document.querySelector(selector);
const LOCKS = '@lock/';

let db;
let token;
const values = new Map(); // key -> entry
const locks = new Map(); // lock name -> { queue, at }
const leases = new Map(); // lease id -> { left, at }
const drafts = new Map(); // lock name -> the token typed in its force-release form
let valuesWatch;

function setStatus(text, state) {
  $('#status').textContent = text;
  $('#status').dataset.state = state;
}

function say(text, kind = 'info') {
  $('#message').textContent = text;
  $('#message').dataset.kind = kind;
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** A lock's name from one of its queue's keys: `@lock/<escaped name>/<waiter>`. */
function lockName(key) {
  const escaped = key.slice(LOCKS.length).split('/')[0];
  return decodeURIComponent(escaped);
}

/** Who a waiter is: the owner description it was given (the rest is the client's id). */
function ownerOf(waiter) {
  const o = waiter.owner;
  return typeof o?.owner === 'string' ? o.owner : JSON.stringify(o);
}

function secondsLeft(left, at) {
  return Math.max(0, left - (performance.now() - at) / 1000);
}

// ---- values -----------------------------------------------------------------------------

async function showValues(prefix) {
  await valuesWatch?.return();
  values.clear();
  const from = await db.index();
  let after;
  do {
    const page = await db.list(prefix, { after, limit: 500 });
    for (const e of page.entries) values.set(e.key, e);
    after = page.more ? page.entries.at(-1).key : undefined;
  } while (after !== undefined && values.size < 5000);
  renderValues();
  valuesWatch = db.watch(prefix, { fromIndex: from + 1 });
  follow(valuesWatch, (e) => {
    const known = values.get(e.key);
    if (known && known.index >= e.index) return;
    if (e.type === 'put') {
      values.set(e.key, { key: e.key, value: e.value, index: e.index, lease: e.lease });
    } else {
      values.delete(e.key);
    }
    renderValues(e.key);
  });
}

/** The lease of a key written by a watched put is not in the event; read it back. */
async function refreshLease(key) {
  const e = await db.get(key);
  if (e && values.has(key)) values.set(key, e);
}

function renderValues(changed) {
  const rows = [...values.values()].sort((a, b) => (a.key < b.key ? -1 : 1)).map((e) => {
    const del = el('button', { textContent: 'Delete', className: 'danger', type: 'button' });
    del.addEventListener('click', () => removeValue(e));
    const row = el('tr', {},
      el('td', { textContent: e.key }),
      el('td', { className: 'value', textContent: JSON.stringify(e.value) }),
      el('td', { textContent: String(e.index) }),
      el('td', { textContent: e.lease ?? '' }),
      el('td', {}, del));
    row.dataset.key = e.key;
    if (e.key === changed) row.classList.add('flash');
    return row;
  });
  $('#values tbody').replaceChildren(...rows);
  if (changed && values.has(changed)) {
    void refreshLease(changed).then(() => { renderValues(); renderLeases(); });
  }
}

async function removeValue(e) {
  if (!confirm(`Delete '${e.key}' (index ${e.index})?`)) return;
  const r = await db.delete(e.key, { index: e.index });
  say(r.successful ? `Deleted '${e.key}'.` : `'${e.key}' changed since (now at index ${r.index}); not deleted.`,
    r.successful ? 'info' : 'error');
}

async function putValue(event) {
  event.preventDefault();
  const key = $('#put-key').value.trim();
  let value;
  try {
    value = JSON.parse($('#put-value').value);
  } catch (e) {
    return say(`The value is not JSON: ${e.message}`, 'error');
  }
  const text = $('#put-index').value.trim();
  // With an index, a compare-exchange (put); without, an unconditional write (set).
  const index = text === '' ? null : Number(text);
  const r = index === null ? { successful: true, index: await db.set(key, value) } : await db.put(key, value, index);
  say(r.successful
    ? `Put '${key}' at index ${r.index}.`
    : `Not written: '${key}' is at index ${r.index}, not ${index}.`, r.successful ? 'info' : 'error');
}

// ---- locks ------------------------------------------------------------------------------

async function showLocks() {
  const from = await db.index();
  const names = new Set();
  let after;
  do {
    const page = await db.list(LOCKS, { after, limit: 500 });
    for (const e of page.entries) names.add(lockName(e.key));
    after = page.more ? page.entries.at(-1).key : undefined;
  } while (after !== undefined);
  await Promise.all([...names].map(refreshLock));
  renderLocks();
  follow(db.watch(LOCKS, { fromIndex: from + 1 }), (e) => {
    void refreshLock(lockName(e.key)).then(renderLocks);
  });
  // Renewals write nothing, so re-read the queues now and then for their TTLs.
  setInterval(() => void Promise.all([...locks.keys()].map(refreshLock)).then(renderLocks), 2000);
}

async function refreshLock(name) {
  const queue = await db.lockQueue(name);
  if (queue.length === 0) {
    locks.delete(name);
  } else {
    locks.set(name, { queue, at: performance.now() });
  }
}

function renderLocks() {
  const focused = document.activeElement?.closest?.('.lock')?.dataset.name;
  const blocks = [...locks.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, { queue, at }]) => {
    const items = queue.map((w, i) => {
      const item = el('li', { className: w.holder ? 'waiter holder' : 'waiter' },
        `${w.holder ? 'holder' : `waiter ${i}`}: ${ownerOf(w)} · token ${w.token} · lease ${w.lease ?? '-'} · TTL `,
        el('span', { className: 'ttl' }));
      item.dataset.token = String(w.token);
      if (w.ttlLeft != null) {
        item.querySelector('.ttl').dataset.left = String(w.ttlLeft);
        item.querySelector('.ttl').dataset.at = String(at);
      }
      return item;
    });
    const block = el('div', { className: 'lock' }, el('h3', { textContent: name }), el('ol', {}, ...items));
    block.dataset.name = name;
    if (queue[0]?.holder) block.append(releaseForm(name, queue[0]));
    return block;
  });
  $('#locks').replaceChildren(...(blocks.length ? blocks : [el('p', { className: 'empty', textContent: 'No locks are held or waited for.' })]));
  // Re-rendering must not lose what is being typed.
  if (focused !== undefined) {
    document.querySelector(`.lock[data-name="${CSS.escape(focused)}"] .release-token`)?.focus();
  }
  tick();
  renderLeases();
}

/** A name as one path segment; `.` and `..` are escaped too, or the browser would resolve them. */
function segment(name) {
  return encodeURIComponent(name).replace(/\./g, '%2E');
}

/** Force-release: the holder's fencing token must be typed, then confirmed. */
function releaseForm(name, holder) {
  const input = el('input', { className: 'release-token', size: 8, placeholder: 'token', required: true, value: drafts.get(name) ?? '' });
  input.addEventListener('input', () => drafts.set(name, input.value));
  const form = el('form', { className: 'release' },
    el('label', {}, "Stuck holder? Its fencing token: ", input),
    el('button', { className: 'danger', textContent: 'Force release' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const given = input.value.trim();
    drafts.delete(name);
    if (!confirm(`Force-release lock '${name}' from ${ownerOf(holder)} (token ${given})? ` +
      'If that holder is still working, its fenced writes will fail from now on.')) return;
    const response = await fetch(`/v1/locks/${segment(name)}/holder?token=${encodeURIComponent(given)}`, {
      method: 'DELETE',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    const body = await response.json().catch(() => ({}));
    say(response.ok ? `Released lock '${name}' (token ${given}); the next waiter gets it.`
      : `Not released: ${body.error?.message ?? response.status}`, response.ok ? 'info' : 'error');
  });
  return form;
}

// ---- leases -----------------------------------------------------------------------------

function renderLeases() {
  const holds = new Map();
  const add = (id, what) => {
    if (id == null) return;
    if (!holds.has(id)) holds.set(id, []);
    holds.get(id).push(what);
  };
  for (const e of values.values()) add(e.lease, e.key);
  for (const [name, { queue }] of locks) for (const w of queue) add(w.lease, `lock '${name}'${w.holder ? ' (holder)' : ''}`);
  for (const id of holds.keys()) {
    if (!leases.has(id)) {
      leases.set(id, { left: null, at: performance.now() });
      void db.timeToLive(id).then((left) => { leases.set(id, { left, at: performance.now() }); renderLeases(); });
    }
  }
  for (const id of leases.keys()) if (!holds.has(id)) leases.delete(id);
  const rows = [...holds.entries()].map(([id, what]) => {
    const { left, at } = leases.get(id);
    const ttl = el('span', { className: 'ttl' });
    if (left != null) {
      ttl.dataset.left = String(left);
      ttl.dataset.at = String(at);
    }
    const row = el('tr', {}, el('td', { textContent: id }), el('td', {}, ttl), el('td', { textContent: what.join(', ') }));
    row.dataset.lease = id;
    return row;
  });
  $('#leases tbody').replaceChildren(...rows);
  tick();
}

/** Counts every TTL down between reads. */
function tick() {
  for (const span of document.querySelectorAll('.ttl[data-left]')) {
    span.textContent = `${secondsLeft(Number(span.dataset.left), Number(span.dataset.at)).toFixed(1)} s`;
  }
}

// ---- wiring -----------------------------------------------------------------------------

/** Applies each event of a watch until it ends; a broken watch is reported. */
async function follow(watch, apply) {
  try {
    for await (const e of watch) {
      apply(e);
      setStatus(`live · ${db.describe()} · index ${e.index}`, 'live');
    }
  } catch (e) {
    setStatus(`disconnected: ${e.message}`, 'error');
  }
}

async function start() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem('interlock-token', fromHash);
    history.replaceState(null, '', location.pathname);
  }
  token = sessionStorage.getItem('interlock-token') ?? undefined;
  try {
    db = await connect(location.origin, { token });
  } catch (e) {
    if (e instanceof UnauthorizedError) {
      setStatus('this server needs a token', 'error');
      $('#login').hidden = false;
      return;
    }
    setStatus(`cannot connect: ${e.message}`, 'error');
    return;
  }
  $('#login').hidden = true;
  $('#main').hidden = false;
  setStatus(`live · ${db.describe()}`, 'live');
  await Promise.all([showValues($('#prefix').value), showLocks()]);
  setInterval(tick, 200);
  // Renewals write nothing either: re-read the leases' TTLs every second.
  setInterval(() => void Promise.all([...leases.keys()].map(async (id) => {
    leases.set(id, { left: await db.timeToLive(id), at: performance.now() });
  })).then(renderLeases), 1000);
}

$('#login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem('interlock-token', $('#token').value);
  void start();
});
$('#prefix-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void showValues($('#prefix').value.trim()).catch((e) => say(e.message, 'error'));
});
$('#put-form').addEventListener('submit', (event) => void putValue(event).catch((e) => say(e.message, 'error')));
window.addEventListener('unhandledrejection', (event) => say(String(event.reason?.message ?? event.reason), 'error'));

start().catch((e) => setStatus(`failed: ${e.message}`, 'error'));
