// Unit tests of the big-frame path (bigframes.js: WebCrypto for the
// AES-GCM call, the frame layout and key bookkeeping in dave.wasm) in
// Node, whose globalThis.crypto.subtle is WebCrypto. `go test ./web` runs
// them (TestClientModules); without dave.wasm they skip (fail under
// PARLEY_INTEROP/CI), as dave.test.js.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DaveModule } from './module.js';
import { BIG_FRAME, sealBig, openBig, encryptFrame, decryptFrame } from './bigframes.js';

const wasmPath = new URL('./dave.wasm', import.meta.url);
const have = fs.existsSync(wasmPath);
const must = !!(process.env.PARLEY_INTEROP || process.env.CI);
if (!have && must) throw new Error('web/dave/dave.wasm is missing: `make web` builds it (required under PARLEY_INTEROP/CI)');
const skip = have ? false : 'no web/dave/dave.wasm (`make web` builds it)';
const bytes = have ? fs.readFileSync(wasmPath) : null;

const ALICE = '123456789012345678';
const BASE = new Uint8Array(16).map((_, i) => i * 17 + 3);
const CODEC = { opus: 1, vp8: 2, vp9: 3, h264: 4, av1: 6 };

function frameOf(i, size) {
  const b = new Uint8Array(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7 + 1) & 0xff;
  b[0] = 0x78;
  return b;
}

// h264 is an Annex B access unit: an SPS (clear) and an IDR slice
// (header clear, the rest encrypted) of size bytes in all.
function h264(i, size) {
  const head = [0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f, 0xaa, 0xbb, 0, 0, 0, 1, 0x65, 0x88, 0x84];
  const b = frameOf(i, size);
  b.set(head);
  for (let j = head.length; j < size; j++) if (b[j] < 4) b[j] = 4; // no start codes in the slice
  return b;
}

async function load() {
  const m = await DaveModule.load(bytes);
  m.setProtocolVersion(1);
  return m;
}

// sender returns a module with ALICE's sender key; receiver one with
// ALICE's receiver key.
async function sender(base = BASE) {
  const m = await load();
  m.setSenderKey(base);
  return m;
}

async function receiver(base = BASE) {
  const m = await load();
  m.setReceiverKey(ALICE, base, false);
  m.setMembers([ALICE]);
  return m;
}

test('the split path seals the bytes the module seals, nonce for nonce', { skip }, async () => {
  const goSide = await sender();
  const split = await sender();
  const cases = [
    ['opus', CODEC.opus, frameOf(1, 10 * 1024)],
    ['vp9', CODEC.vp9, frameOf(2, 3000)],
    ['vp8 key frame', CODEC.vp8, frameOf(3, 5000).map((x, j) => (j === 0 ? 0x50 : x))],
    ['vp8 delta', CODEC.vp8, frameOf(4, 5000).map((x, j) => (j === 0 ? 0x31 : x))],
    ['h264', CODEC.h264, h264(5, 8000)],
    ['small opus', CODEC.opus, frameOf(6, 100)],
  ];
  for (const [name, codec, f] of cases) {
    const want = goSide.encrypt(f, codec);
    const got = await sealBig(split, f, codec);
    assert.equal(got.status, 'encrypted', name);
    assert.deepEqual(new Uint8Array(got.data), new Uint8Array(want.data), name);
  }
  assert.equal(split.frameStats().encrypted, cases.length);
});

test('big frames round-trip between the split path and the module, once each, in order', { skip }, async () => {
  const a = await sender();
  const b = await receiver();
  for (let i = 0; i < 20; i++) {
    const f = i % 2 ? h264(i, BIG_FRAME + i * 500) : frameOf(i, BIG_FRAME + i * 500);
    const codec = i % 2 ? CODEC.h264 : CODEC.opus;
    // Sealed by WebCrypto, opened by the module; then the reverse.
    const e1 = await sealBig(a, f, codec);
    const d1 = b.decrypt(ALICE, new Uint8Array(e1.data));
    assert.equal(d1.length, 1);
    assert.deepEqual(new Uint8Array(d1[0].data), f);
    const e2 = a.encrypt(f, codec);
    const d2 = await openBig(b, ALICE, new Uint8Array(e2.data));
    assert.equal(d2.length, 1, 'one emit per frame');
    assert.ok(d2[0].ok);
    assert.deepEqual(new Uint8Array(d2[0].data), f);
  }
  const st = b.frameStats();
  assert.equal(st.decrypted, 40);
  assert.deepEqual(st.dropped, {});
  // A replay of a frame the split path opened is refused the same way.
  const f = new Uint8Array((await sealBig(a, frameOf(99, 4000))).data);
  assert.ok((await openBig(b, ALICE, f))[0].ok);
  assert.deepEqual(await openBig(b, ALICE, f), [], 'held: no current key opens it');
  const next = await openBig(b, ALICE, new Uint8Array((await sealBig(a, frameOf(100, 4000))).data));
  assert.deepEqual(next.map((e) => e.ok), [false, true]);
  assert.ok(b.frameStats().failures.replay >= 1);
});

test('a tampered big frame fails WebCrypto, is held, then dropped and counted', { skip }, async () => {
  const a = await sender();
  const b = await receiver();
  const enc = new Uint8Array((await sealBig(a, frameOf(1, 6000))).data);
  enc[100] ^= 1;
  assert.deepEqual(await openBig(b, ALICE, enc), [], 'held');
  const f2 = frameOf(2, 6000);
  const next = await openBig(b, ALICE, new Uint8Array((await sealBig(a, f2)).data));
  assert.equal(next.length, 2);
  assert.deepEqual(next[0], { ok: false, data: null });
  assert.deepEqual(new Uint8Array(next[1].data), f2);
  const st = b.frameStats();
  assert.equal(st.dropped.overtaken, 1);
  assert.equal(st.failures.auth, 1);
  assert.equal(st.dropped_total, 1);
});

test('big frames under a key the receiver does not have yet are held, then released in order', { skip }, async () => {
  const a = await sender();
  const b = await receiver();
  const base2 = new Uint8Array(16).fill(42);
  a.setSenderKey(base2);
  const sent = [1, 2, 3].map((i) => frameOf(i, 3000));
  for (const f of sent) assert.deepEqual(await openBig(b, ALICE, new Uint8Array((await sealBig(a, f)).data)), []);
  b.setReceiverKey(ALICE, base2, false);
  const f4 = frameOf(4, 3000);
  const out = await openBig(b, ALICE, new Uint8Array((await sealBig(a, f4)).data));
  assert.equal(out.length, 4);
  [...sent, f4].forEach((f, i) => assert.deepEqual(new Uint8Array(out[i].data), f, `emit ${i}`));
  assert.equal(b.frameStats().released, 3);
});

test('decryptFrame keeps one sender\'s frames in order across big and small ones', { skip }, async () => {
  const a = await sender();
  const b = await receiver();
  const sizes = [100, 5000, 200, 300, 9000, 8000, 50, BIG_FRAME, BIG_FRAME - 1, 120];
  const frames = sizes.map((n, i) => frameOf(i, n));
  const encs = [];
  for (const f of frames) encs.push(new Uint8Array((await encryptFrame(a, f, CODEC.opus, false)).data));
  const got = [];
  const waits = encs.map((enc) => decryptFrame(b, ALICE, enc, (emits) => got.push(...emits)));
  assert.equal(got.length, 1, 'the first (small) frame at once; the rest wait behind the big one');
  await Promise.all(waits);
  assert.equal(got.length, frames.length);
  frames.forEach((f, i) => {
    assert.ok(got[i].ok, `frame ${i}`);
    assert.deepEqual(new Uint8Array(got[i].data), f, `frame ${i}`);
  });
  // Nothing in flight: a small frame is synchronous again.
  let now = null;
  const r = decryptFrame(b, ALICE, new Uint8Array(a.encrypt(frameOf(50, 80)).data), (e) => (now = e));
  assert.equal(r, undefined);
  assert.ok(now[0].ok);
});

test('frames the split path does not take: plain, wait, silence, unkeyed senders', { skip }, async () => {
  const m = await DaveModule.load(bytes);
  const big = frameOf(1, 4000);
  assert.equal((await sealBig(m, big)).status, 'plain', 'version 0');
  m.setProtocolVersion(1);
  assert.equal((await sealBig(m, big)).status, 'wait');
  assert.equal((await sealBig(m, big, 1, true)).status, 'plain', 'alone, no key');
  // A transport-only big frame from a sender with no key passes.
  const out = await openBig(m, ALICE, big);
  assert.deepEqual(new Uint8Array(out[0].data), big);
});

test('one CryptoKey import per generation key', { skip }, async () => {
  const subtle = globalThis.crypto.subtle;
  const orig = subtle.importKey;
  let imports = 0;
  subtle.importKey = function (...args) {
    imports++;
    return orig.apply(subtle, args);
  };
  try {
    const a = await sender();
    const b = await receiver();
    for (let i = 0; i < 10; i++) {
      const d = await openBig(b, ALICE, new Uint8Array((await sealBig(a, frameOf(i, 2000))).data));
      assert.ok(d[0].ok);
    }
    assert.equal(imports, 2, 'the sender\'s key and the receiver\'s');
  } finally {
    delete subtle.importKey;
    if (subtle.importKey !== orig) subtle.importKey = orig;
  }
});

test('decryptFrame hands one dropped emit for a frame whose call throws, in order, big or small', async () => {
  const calls = [];
  const m = {
    thrown: 0,
    decrypt(user, f) {
      if (f[0] === 0xee) throw new Error('dead instance');
      return [{ ok: true, data: f.buffer }];
    },
    put() {
      throw new Error('dead instance');
    },
  };
  const done = (emits) => calls.push(emits.map((e) => e.ok));
  decryptFrame(m, '1', new Uint8Array([0xee]), done); // sync path throws
  const p = decryptFrame(m, '1', new Uint8Array(BIG_FRAME), done); // openBig throws
  decryptFrame(m, '1', new Uint8Array([1]), done); // behind it
  await p;
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(calls, [[false], [false], [true]]);
  assert.equal(m.thrown, 2);
});
