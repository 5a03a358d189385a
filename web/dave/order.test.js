// Unit tests of the receive side's frame order (order.js, media-worker.js's
// FrameOrder) in Node on the real module (dave.wasm through module.js) and
// the split path (bigframes.js, WebCrypto): every received frame goes out
// at most once, through its own controller, with its own plaintext, in
// its sender's order, and none waits forever. `go test ./web` runs them
// (TestClientModules); without dave.wasm they skip (fail under
// PARLEY_INTEROP/CI), as dave.test.js.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DaveModule } from './module.js';
import { BIG_FRAME, THROWN } from './bigframes.js';
import { FrameOrder } from './order.js';

const wasmPath = new URL('./dave.wasm', import.meta.url);
const have = fs.existsSync(wasmPath);
const must = !!(process.env.PARLEY_INTEROP || process.env.CI);
if (!have && must) throw new Error('web/dave/dave.wasm is missing: `make web` builds it (required under PARLEY_INTEROP/CI)');
const skip = have ? false : 'no web/dave/dave.wasm (`make web` builds it)';
const bytes = have ? fs.readFileSync(wasmPath) : null;
let compiled = null; // compiled once: each test instantiates it

async function load() {
  compiled ??= await WebAssembly.compile(bytes);
  const m = await DaveModule.load(compiled);
  m.setProtocolVersion(1);
  return m;
}

const ALICE = '123456789012345678';
const BOB = '987654321098765432';
const KEY1 = new Uint8Array(16).fill(1);
const KEY2 = new Uint8Array(16).fill(2);
const KEY3 = new Uint8Array(16).fill(3);
const SSRC = 1111;
const SSRC_B = 2222;

// text returns frame number i of size bytes, i in its first two bytes
// (after 0x78, so it is no Opus silence frame).
function text(i, size = 100) {
  const b = new Uint8Array(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7 + 1) & 0xff;
  b[0] = 0x78;
  b[1] = i;
  return b;
}

// senderFor returns a module sending under base.
async function senderFor(base) {
  const m = await load();
  m.setSenderKey(base);
  return m;
}

const receiverModule = load;

// rig is a FrameOrder on module m with a manual flush timer, and a sink
// that records what each controller enqueued.
function rig(m) {
  const timers = { armed: 0, cleared: 0, fn: null };
  // Called as plain functions, as a browser's timers must be (as methods
  // of another object they throw "Illegal invocation").
  const order = new FrameOrder(m, {
    setInterval: function (fn) {
      assert.equal(this, undefined, 'setInterval called as a method');
      timers.armed++;
      timers.fn = fn;
      return 1;
    },
    clearInterval: function () {
      assert.equal(this, undefined, 'clearInterval called as a method');
      timers.cleared++;
      timers.fn = null;
    },
  });
  const out = []; // {tag, data}: in enqueue order
  const controller = (tag) => ({ enqueue: (f) => out.push({ tag, id: f.id, data: new Uint8Array(f.data) }) });
  let n = 0;
  // recv passes an encrypted frame from ssrc; id numbers the frame.
  const recv = (ssrc, enc, tag = 'a') => {
    const id = n++;
    const frame = { id, data: enc.slice().buffer, getMetadata: () => ({ synchronizationSource: ssrc }) };
    return order.receive(m, frame, controller(tag));
  };
  return { order, timers, out, recv };
}

function enc(m, plain) {
  const r = m.encrypt(plain, 1, false);
  assert.equal(r.status, 'encrypted');
  return new Uint8Array(r.data);
}

// flushUntil flushes (the timer's work) until cond holds, within ms.
async function flushUntil(r, cond, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    r.order.flushAll();
    await new Promise((res) => setTimeout(res, 20));
  }
}

function plains(out) {
  return out.map((o) => o.data[1]);
}

test('an SSRC moving to another user while its frames are held: each frame goes out once, with its own sender\'s plaintext', { skip }, async () => {
  const m = await receiverModule();
  const a1 = await senderFor(KEY1);
  const b3 = await senderFor(KEY3);
  m.setReceiverKey(ALICE, KEY1, false);
  m.setMembers([ALICE, BOB]);
  const r = rig(m);
  r.order.setSSRC(SSRC, ALICE);
  r.recv(SSRC, enc(a1, text(0)));
  const a2 = await senderFor(KEY2); // Alice's next key, not here yet
  r.recv(SSRC, enc(a2, text(1))); // held
  r.recv(SSRC, enc(a2, text(2))); // held
  assert.deepEqual(plains(r.out), [0]);
  assert.equal(r.order.holding, 2);
  assert.equal(r.timers.armed, 1, 'the flush timer runs while frames wait');
  // The SSRC is Bob's now (Alice left, Bob took it): Bob's frames are
  // his, Alice's held ones stay hers.
  r.order.setSSRC(SSRC, BOB);
  m.setReceiverKey(BOB, KEY3, false);
  r.recv(SSRC, enc(b3, text(10)));
  r.recv(SSRC, enc(b3, text(11)));
  assert.deepEqual(plains(r.out), [0, 10, 11]);
  m.setReceiverKey(ALICE, KEY2, false); // Alice's key arrives; she says nothing more
  r.timers.fn();
  assert.deepEqual(plains(r.out), [0, 10, 11, 1, 2]);
  assert.deepEqual(r.out.map((o) => o.id), [0, 3, 4, 1, 2], 'each frame its own plaintext');
  assert.equal(r.order.holding, 0);
  assert.equal(r.timers.cleared, 1, 'the timer stops when nothing waits');
});

test('a sender leaving (setMembers) with frames held: they are dropped within the hold time by the timer, none twice', { skip }, async () => {
  const m = await receiverModule();
  m.setReceiverKey(ALICE, KEY1, false);
  m.setReceiverKey(BOB, KEY3, false);
  m.setMembers([ALICE, BOB]);
  const a2 = await senderFor(KEY2);
  const b3 = await senderFor(KEY3);
  const r = rig(m);
  r.order.setSSRC(SSRC, ALICE);
  r.order.setSSRC(SSRC_B, BOB);
  for (let i = 0; i < 3; i++) r.recv(SSRC, enc(a2, text(i))); // no key 2: held
  r.recv(SSRC_B, enc(b3, text(20)));
  m.setMembers([BOB]); // Alice leaves
  r.order.forgetSSRC(SSRC);
  assert.equal(r.order.holding, 3);
  const t0 = Date.now();
  await flushUntil(r, () => r.order.holding === 0);
  assert.ok(Date.now() - t0 < 5 * 300, `dropped after ${Date.now() - t0} ms: the hold time (250 ms) and a tick`);
  assert.deepEqual(plains(r.out), [20]);
  const st = m.frameStats();
  assert.equal(st.dropped.expired, 3);
  assert.equal(st.undecryptable, 0, 'Alice had a key');
  assert.equal(r.timers.fn, null);
  // Her SSRC is unknown now: its frames go as user 0, counted.
  r.recv(SSRC, text(30)); // transport-only, no key for user 0: passes
  assert.equal(r.order.drops.unknown_ssrc, 1);
});

test('an epoch change while a split (WebCrypto) open is in flight: frames before and after it, once each, in order', { skip }, async () => {
  const m = await receiverModule();
  m.setReceiverKey(ALICE, KEY1, false);
  m.setMembers([ALICE]);
  const a1 = await senderFor(KEY1);
  const a2 = await senderFor(KEY2);
  const r = rig(m);
  r.order.setSSRC(SSRC, ALICE);
  const waits = [];
  waits.push(r.recv(SSRC, enc(a1, text(0, 100))));
  waits.push(r.recv(SSRC, enc(a1, text(1, 4 * BIG_FRAME)))); // open_begin, then WebCrypto
  // The next epoch's key while it is in flight (the worker applies a key
  // change between two frames); its sender switches at once.
  m.setReceiverKey(ALICE, KEY2, false);
  waits.push(r.recv(SSRC, enc(a2, text(2, 100)))); // waits behind the big one
  waits.push(r.recv(SSRC, enc(a2, text(3, 3 * BIG_FRAME))));
  waits.push(r.recv(SSRC, enc(a1, text(4, 2 * BIG_FRAME)))); // the old epoch still opens in the transition
  assert.deepEqual(plains(r.out), [0]);
  await Promise.all(waits);
  assert.deepEqual(plains(r.out), [0, 1, 2, 3, 4]);
  assert.deepEqual(r.out.map((o) => o.data.length), [100, 4 * BIG_FRAME, 100, 3 * BIG_FRAME, 2 * BIG_FRAME]);
  assert.equal(r.order.holding, 0);
  // And the sender removed while a big frame is in flight: held, then
  // dropped by the timer; the frame behind it too; nothing twice.
  const w = r.recv(SSRC, enc(a2, text(5, 2 * BIG_FRAME)));
  m.setMembers([]);
  const w2 = r.recv(SSRC, enc(a2, text(6, 100)));
  await Promise.all([w, w2]);
  await flushUntil(r, () => r.order.holding === 0);
  assert.deepEqual(plains(r.out), [0, 1, 2, 3, 4], 'no key after the removal: both dropped');
  assert.equal(m.frameStats().dropped_total, 2);
});

test('a module call that throws: that frame is dropped, the frames held before it keep their emits, order kept', { skip }, async () => {
  const m = await receiverModule();
  m.setReceiverKey(ALICE, KEY1, false);
  m.setMembers([ALICE]);
  const a1 = await senderFor(KEY1);
  const a2 = await senderFor(KEY2);
  const r = rig(m);
  r.order.setSSRC(SSRC, ALICE);
  r.recv(SSRC, enc(a2, text(0))); // held: no key 2 yet
  r.recv(SSRC, enc(a2, text(1))); // held
  // The next small call throws (a dead instance would): dropped.
  const decrypt = m.decrypt;
  m.decrypt = () => {
    m.decrypt = decrypt;
    throw new Error('boom');
  };
  r.recv(SSRC, enc(a2, text(2)));
  assert.equal(r.order.holding, 2, 'the thrown frame is out, the held ones wait');
  m.setReceiverKey(ALICE, KEY2, false);
  r.recv(SSRC, enc(a2, text(3)));
  assert.deepEqual(plains(r.out), [0, 1, 3], 'the held frames released in order, the thrown one dropped');
  // A big frame whose split open throws in WebCrypto's wake (open_finish).
  const exports = m.x; // frozen: the module gets a copy whose open_finish throws once
  m.x = { ...exports, open_finish: () => {
    m.x = exports;
    throw new Error('boom');
  } };
  const w = r.recv(SSRC, enc(a2, text(4, 3 * BIG_FRAME)));
  const w2 = r.recv(SSRC, enc(a2, text(5, 100))); // behind it
  await Promise.all([w, w2]);
  assert.deepEqual(plains(r.out), [0, 1, 3, 5]);
  assert.deepEqual(r.out.map((o) => o.id), [0, 1, 3, 5], 'each frame its own plaintext');
  assert.equal(m.thrown, 2);
  assert.equal(r.order.holding, 0);
  assert.equal(m.frameStats().dropped.thrown, 2);
  // Frames of the old key still open afterwards.
  r.recv(SSRC, enc(a1, text(6)));
  assert.deepEqual(plains(r.out), [0, 1, 3, 5, 6]);
});

test('a flush that throws keeps the frames for the next tick', { skip }, async () => {
  const m = await receiverModule();
  m.setReceiverKey(ALICE, KEY1, false);
  m.setMembers([ALICE]);
  const a2 = await senderFor(KEY2);
  const r = rig(m);
  r.order.setSSRC(SSRC, ALICE);
  r.recv(SSRC, enc(a2, text(0)));
  const flush = m.flush;
  m.flush = () => {
    throw new Error('boom');
  };
  r.timers.fn();
  assert.equal(r.order.drops.flush_failed, 1);
  assert.equal(r.order.holding, 1);
  m.flush = flush;
  m.setReceiverKey(ALICE, KEY2, false);
  r.timers.fn();
  assert.deepEqual(plains(r.out), [0]);
  assert.equal(r.order.holding, 0);
});

test('mixed big and small frames of two senders, interleaved: each sender in order, through its own controller', { skip }, async () => {
  const m = await receiverModule();
  m.setReceiverKey(ALICE, KEY1, false);
  m.setReceiverKey(BOB, KEY3, false);
  m.setMembers([ALICE, BOB]);
  const a1 = await senderFor(KEY1);
  const b3 = await senderFor(KEY3);
  const r = rig(m);
  r.order.setSSRC(SSRC, ALICE);
  r.order.setSSRC(SSRC_B, BOB);
  const sizes = [100, 5000, 200, BIG_FRAME, BIG_FRAME - 1, 9000, 50, 120, 3000, 60];
  const waits = [];
  sizes.forEach((n, i) => {
    waits.push(r.recv(SSRC, enc(a1, text(i, n)), 'alice'));
    waits.push(r.recv(SSRC_B, enc(b3, text(100 + i, sizes[sizes.length - 1 - i])), 'bob'));
  });
  await Promise.all(waits);
  const of = (tag) => r.out.filter((o) => o.tag === tag);
  assert.deepEqual(plains(of('alice')), sizes.map((_, i) => i));
  assert.deepEqual(plains(of('bob')), sizes.map((_, i) => 100 + i));
  assert.deepEqual(of('alice').map((o) => o.data.length), sizes);
  assert.equal(r.order.holding, 0);
  assert.deepEqual(m.frameStats().dropped, {});
});

test('release: THROWN takes out its own frame; a closed stream counts enqueue', async () => {
  const timers = [];
  const order = new FrameOrder(null, { setInterval: () => timers.push(1) && 7, clearInterval: () => timers.pop() });
  const got = [];
  const q = [0, 1, 2].map((id) => ({ frame: { id }, controller: { enqueue: (f) => got.push(f.id) } }));
  order.pending.set('1', [...q]);
  order.release('1', THROWN, q[1]);
  assert.deepEqual(order.pending.get('1').map((e) => e.frame.id), [0, 2]);
  order.release('1', [{ ok: true, data: new ArrayBuffer(1) }]);
  assert.deepEqual(got, [0]);
  order.pending.get('1')[0].controller = { enqueue: () => { throw new Error('closed'); } };
  order.release('1', [{ ok: true, data: new ArrayBuffer(1) }]);
  assert.equal(order.drops.enqueue, 1);
  assert.equal(order.pending.size, 0);
  assert.equal(order.holding, 0);
  // Emits for a user with nothing waiting are ignored.
  order.release('2', [{ ok: true, data: new ArrayBuffer(1) }]);
  assert.deepEqual(got, [0]);
});
