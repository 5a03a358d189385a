// Unit tests of the DAVE module (dave.wasm through module.js) in Node:
// the frame side end to end between two instances. `go test ./web` runs
// them (TestClientModules). Without dave.wasm (`make web` builds it) they
// skip, except under make test / CI (PARLEY_INTEROP, CI), where that fails.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DaveModule, codecOf } from './module.js';

const wasmPath = new URL('./dave.wasm', import.meta.url);
const have = fs.existsSync(wasmPath);
const must = !!(process.env.PARLEY_INTEROP || process.env.CI);
if (!have && must) throw new Error('web/dave/dave.wasm is missing: `make web` builds it (required under PARLEY_INTEROP/CI)');
const skip = have ? false : 'no web/dave/dave.wasm (`make web` builds it)';
const bytes = have ? fs.readFileSync(wasmPath) : null;

const ALICE = '123456789012345678'; // above 2^53: ids travel as u64
const BOB = '987654321098765432';
const SILENCE = new Uint8Array([0xf8, 0xff, 0xfe]);

function opus(i, size = 100) {
  const b = new Uint8Array(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7 + 1) & 0xff;
  b[0] = 0x78;
  return b;
}

// pair returns a sender (ALICE's key) and a receiver of ALICE, both at
// protocol version 1, sharing a base secret.
async function pair() {
  const a = await DaveModule.load(bytes);
  const b = await DaveModule.load(bytes);
  const base = new Uint8Array(16).map((_, i) => i * 17 + 3);
  for (const m of [a, b]) m.setProtocolVersion(1);
  a.setSenderKey(base);
  b.setReceiverKey(ALICE, base, false);
  b.setMembers([ALICE, BOB]);
  return { a, b };
}

test('codecOf maps RTP mime types to dave.Codec', () => {
  assert.equal(codecOf('audio/opus'), 1);
  assert.equal(codecOf('video/VP8'), 2);
  assert.equal(codecOf('video/H264'), 4);
  assert.equal(codecOf('video/unknown'), 0);
});

test('a frame encrypted in one instance decrypts in another, once each, in order', { skip }, async () => {
  const { a, b } = await pair();
  for (let i = 0; i < 50; i++) {
    const f = opus(i, 20 + i * 3);
    const e = a.encrypt(f);
    assert.equal(e.status, 'encrypted');
    const enc = new Uint8Array(e.data);
    assert.deepEqual([...enc.slice(-2)], [0xfa, 0xfa], 'DAVE marker');
    assert.notDeepEqual(enc.slice(0, f.length), f, 'ciphertext differs');
    const emits = b.decrypt(ALICE, enc);
    assert.equal(emits.length, 1, 'one emit per frame');
    assert.ok(emits[0].ok);
    assert.deepEqual(new Uint8Array(emits[0].data), f);
  }
  assert.equal(a.frameStats().encrypted, 50);
  const st = b.frameStats();
  assert.equal(st.decrypted, 50);
  assert.deepEqual(st.dropped, {});
});

test('a tampered frame is held, then dropped and counted when the next one opens: one emit each, in order', { skip }, async () => {
  const { a, b } = await pair();
  const enc = new Uint8Array(a.encrypt(opus(1)).data);
  enc[5] ^= 1;
  assert.deepEqual(b.decrypt(ALICE, enc), [], 'held: no current key opens it');
  const f2 = opus(2);
  const next = b.decrypt(ALICE, new Uint8Array(a.encrypt(f2).data));
  assert.equal(next.length, 2, 'the held frame, then this one');
  assert.deepEqual(next[0], { ok: false, data: null });
  assert.ok(next[1].ok);
  assert.deepEqual(new Uint8Array(next[1].data), f2);
  const st = b.frameStats();
  assert.equal(st.dropped.overtaken, 1);
  assert.ok(st.failures.auth >= 1);
  assert.equal(st.dropped_total, 1);
  // A replay of a frame already decrypted goes the same way.
  const f = new Uint8Array(a.encrypt(opus(3)).data);
  assert.ok(b.decrypt(ALICE, f)[0].ok);
  assert.deepEqual(b.decrypt(ALICE, f), []);
  const after = b.decrypt(ALICE, new Uint8Array(a.encrypt(opus(4)).data));
  assert.deepEqual(after.map((e) => e.ok), [false, true]);
  assert.ok(b.frameStats().failures.replay >= 1);
});

test('frames sent with a key the receiver does not have yet are held, then released in order', { skip }, async () => {
  const { a, b } = await pair();
  assert.ok(b.decrypt(ALICE, new Uint8Array(a.encrypt(opus(0)).data))[0].ok);
  // The sender moves to the next epoch's key before the receiver has it
  // (davey switches when it processes the commit).
  const base2 = new Uint8Array(16).fill(42);
  a.setSenderKey(base2);
  const sent = [1, 2, 3].map((i) => opus(i));
  for (const f of sent) assert.deepEqual(b.decrypt(ALICE, new Uint8Array(a.encrypt(f).data)), []);
  assert.deepEqual(b.flush(ALICE), [], 'nothing expires early');
  assert.equal(b.frameStats().holding, 3);
  b.setReceiverKey(ALICE, base2, false);
  const f4 = opus(4);
  const out = b.decrypt(ALICE, new Uint8Array(a.encrypt(f4).data));
  assert.equal(out.length, 4);
  [...sent, f4].forEach((f, i) => {
    assert.ok(out[i].ok, `emit ${i}`);
    assert.deepEqual(new Uint8Array(out[i].data), f);
  });
  const st = b.frameStats();
  assert.equal(st.held, 3);
  assert.equal(st.released, 3);
  assert.equal(st.holding, 0);
});

test('the Opus silence frame passes unencrypted both ways', { skip }, async () => {
  const { a, b } = await pair();
  assert.equal(a.encrypt(SILENCE).status, 'plain');
  const emits = b.decrypt(ALICE, SILENCE);
  assert.equal(emits.length, 1);
  assert.ok(emits[0].ok);
  assert.deepEqual(new Uint8Array(emits[0].data), SILENCE);
});

test('sending: version 0 is plain; version 1 waits for a key unless alone', { skip }, async () => {
  const m = await DaveModule.load(bytes);
  assert.equal(m.encrypt(opus(1)).status, 'plain', 'version 0');
  m.setProtocolVersion(1);
  assert.equal(m.encrypt(opus(1)).status, 'wait');
  assert.equal(m.encrypt(opus(1), 1, true).status, 'plain', 'alone, no key');
  assert.equal(m.frameStats().not_ready, 1);
  m.setSenderKey(new Uint8Array(16).fill(1));
  assert.equal(m.encrypt(opus(1)).status, 'encrypted');
  m.setSenderKey(null);
  assert.equal(m.encrypt(opus(1)).status, 'wait', 'key removed (re-init)');
});

test('receiving: transport-only frames pass only in passthrough; frames nobody has a key for are held', { skip }, async () => {
  const { a, b } = await pair();
  const plain = opus(9);
  assert.deepEqual(b.decrypt(ALICE, plain), [{ ok: false, data: null }], 'transport-only frame, passthrough off');
  assert.equal(b.frameStats().dropped.unencrypted, 1);
  b.setPassthrough(true, 0);
  assert.deepEqual(new Uint8Array(b.decrypt(ALICE, plain)[0].data), plain, 'passthrough on');
  const enc = new Uint8Array(a.encrypt(opus(10)).data);
  assert.deepEqual(b.decrypt(BOB, enc), [], 'a DAVE frame from a user without a key waits');
  // A member who left loses its receiver: its DAVE frames no longer open.
  b.setMembers([BOB]);
  assert.deepEqual(b.decrypt(ALICE, new Uint8Array(a.encrypt(opus(11)).data)), []);
});

test('a big frame grows the module memory; later calls still work', { skip }, async () => {
  const { a, b } = await pair();
  const big = opus(1, 4 << 20); // 4 MiB: more than the module's initial buffers
  const e = a.encrypt(big, 0);
  assert.equal(e.status, 'encrypted');
  const d = b.decrypt(ALICE, new Uint8Array(e.data));
  assert.ok(d[0].ok);
  assert.deepEqual(new Uint8Array(d[0].data), big);
  const small = opus(2);
  assert.deepEqual(new Uint8Array(b.decrypt(ALICE, new Uint8Array(a.encrypt(small).data))[0].data), small);
});

test('a prepared participant answers op 4 with the key package it made ahead', { skip }, async () => {
  const m = await DaveModule.load(bytes);
  m.mlsNew(ALICE, '77');
  m.mlsPrepare();
  m.mlsPrepare(); // once is enough; a second keeps the first
  const r = m.mlsSessionDescription(1);
  assert.equal(r.error, '');
  assert.equal(r.out.length, 1);
  assert.ok(r.out[0] instanceof Uint8Array && r.out[0][0] === 26, 'op 26 (key package)');
  assert.deepEqual(r.keys.map((k) => k.k), ['version', 'sender']);
  const again = m.mlsSessionDescription(1);
  assert.notDeepEqual(again.out[0], r.out[0], 'a second op 4 sends a fresh key package');
  const fresh = await DaveModule.load(bytes);
  assert.throws(() => fresh.mlsPrepare(), /mls_new first/);
});

test('JSON ops: fields go in as numbers; a bad payload is an error, as the Go client finds it', { skip }, async () => {
  const m = await DaveModule.load(bytes);
  m.mlsNew(ALICE, '77');
  for (const d of [{ transition_id: 'x' }, { transition_id: 70000 }, { transition_id: -1 }, null]) {
    const r = m.mlsHandleJSON(21, d);
    assert.match(r.error, /bad payload/, JSON.stringify(d));
  }
  const r = m.mlsHandleJSON(21, { transition_id: 7, protocol_version: 0, extra: 'ignored' });
  assert.equal(r.error, '');
  assert.deepEqual(r.out, [{ op: 23, d: { transition_id: 7 } }]);
  assert.match(m.mlsHandleJSON(23, { transition_id: 1 }).error, /not a JSON op/);
  assert.equal(m.mlsState().pending, 1);
});

test('a panic in a frame export is recovered: one dropped emit per held frame and for the frame, counted; the instance goes on', { skip }, async () => {
  const { a, b } = await pair();
  const other = await DaveModule.load(bytes);
  other.setProtocolVersion(1);
  other.setSenderKey(new Uint8Array(16).fill(9)); // a key b does not have: its frames are held
  assert.deepEqual(b.decrypt(ALICE, new Uint8Array(other.encrypt(opus(1)).data)), []);
  assert.deepEqual(b.decrypt(ALICE, new Uint8Array(other.encrypt(opus(2)).data)), []);
  b.fault();
  const emits = b.decrypt(ALICE, new Uint8Array(a.encrypt(opus(3)).data));
  assert.deepEqual(emits, [{ ok: false, data: null }, { ok: false, data: null }, { ok: false, data: null }], 'two held, then this one');
  const st = b.frameStats();
  assert.equal(st.panics, 1);
  assert.equal(st.discarded, 2);
  assert.equal(st.holding, 0);
  const f = opus(4);
  const next = b.decrypt(ALICE, new Uint8Array(a.encrypt(f).data));
  assert.equal(next.length, 1);
  assert.deepEqual(new Uint8Array(next[0].data), f, 'decrypts after the panic');
  a.fault();
  assert.equal(a.encrypt(opus(5)).status, 'failed', 'a panic in encrypt drops the frame');
  assert.equal(a.encrypt(opus(6)).status, 'encrypted');
  b.fault();
  assert.throws(() => b.setReceiverKey(BOB, new Uint8Array(16), false), /panic/, 'a key call reports the panic');
});

test('a panic in an MLS export is the input\'s error; the participant goes on', { skip }, async () => {
  const m = await DaveModule.load(bytes);
  m.mlsNew(ALICE, '42');
  m.fault();
  const r = m.mlsHandleBinary(new Uint8Array([0, 1, 25, 0]));
  assert.match(r.error, /panic/);
  assert.equal(m.mlsState().panics, 1);
  const kp = m.mlsSessionDescription(1);
  assert.equal(kp.error, '');
  assert.equal(kp.out.length, 1, 'op 26 after the panic');
});

test('emits never reads past the output: a short output is dropped emits, counted', { skip }, async () => {
  const { a, b } = await pair();
  const enc = new Uint8Array(a.encrypt(opus(1)).data);
  b.put(enc);
  assert.equal(b.x.frame_decrypt(BigInt(ALICE), enc.length), 1);
  new Uint32Array(b.x.mem.buffer, b.x.dave_hdr(), 2)[1] = 3; // the record's length field cut
  assert.deepEqual(b.emits(2), [{ ok: false, data: null }, { ok: false, data: null }]);
  assert.equal(b.malformed, 1);
  new Uint32Array(b.x.mem.buffer, b.x.dave_hdr(), 2)[1] = 0xffffffff;
  assert.throws(() => b.output(), /outside/);
});
