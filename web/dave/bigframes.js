// bigframes.js: big frames (video) through WebCrypto, the DAVE frame
// layout still the module's (dave.SealJob, dave.OpenJob; web/davewasm
// bigframes.go). For a frame of at least BIG_FRAME bytes the module picks
// the nonce, the key and the codec's clear ranges, JS makes the one
// AES-128-GCM call (tagLength 64), and the module lays out the frame (to
// send) or applies the replay window, generations and hold-and-retry (on
// receipt) exactly as for a frame it decrypts itself. Smaller frames go
// straight through the module, whose per-call cost is lower there.
//
// Keys: each generation key has an id; its CryptoKey (not extractable) is
// imported once and cached per module instance.
//
// Order: one sender's received frames are decrypted one after the other:
// while a big frame of a sender awaits WebCrypto, that sender's later
// frames (big or small) wait behind it, so the module sees and emits them
// in arrival order.

// BIG_FRAME is the size from which WebCrypto is faster than the module
// (TestBrowserDAVECost measures both sides of it in Chromium).
export const BIG_FRAME = 1024;

const MAX_KEYS = 32; // cached CryptoKeys per module (a few live generations per sender)
const keyCache = new WeakMap(); // DaveModule -> Map(key id -> Promise<CryptoKey>)
const tails = new WeakMap(); // DaveModule -> Map(user -> Promise of its last queued frame)
const EMPTY = new Uint8Array(0);
const DROPPED = Object.freeze({ ok: false, data: null });

// THROWN is decryptFrame's answer for a frame whose module call threw:
// one dropped emit, for that frame (order.js takes that very frame out of
// its sender's queue: the frames held before it await the module's
// emits).
export const THROWN = Object.freeze([DROPPED]);

function u64(u) {
  return BigInt.asUintN(64, BigInt(u));
}

function cryptoKey(m, id, raw) {
  let c = keyCache.get(m);
  if (!c) keyCache.set(m, (c = new Map()));
  let k = c.get(id);
  if (!k) {
    k = crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
    c.set(id, k);
    if (c.size > MAX_KEYS) c.delete(c.keys().next().value); // the oldest
  }
  return k;
}

function gcm(iv, aad) {
  return { name: 'AES-GCM', iv, additionalData: aad, tagLength: 64 };
}

// sealRecord reads seal_begin's output (copies: the module's memory may
// change while WebCrypto works).
function sealRecord(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const aadLen = v.getUint32(36, true);
  return { id: v.getBigUint64(0, true), key: b.slice(8, 24), iv: b.slice(24, 36), aad: b.slice(40, 40 + aadLen), pt: b.slice(40 + aadLen) };
}

// openRecord reads open_begin's output (copies).
function openRecord(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 12;
  const aadLen = v.getUint32(o, true);
  const aad = b.slice(o + 4, o + 4 + aadLen);
  o += 4 + aadLen;
  const sealedLen = v.getUint32(o, true);
  const sealed = b.slice(o + 4, o + 4 + sealedLen);
  o += 4 + sealedLen;
  const n = v.getUint32(o, true);
  o += 4;
  const cands = [];
  for (let i = 0; i < n; i++, o += 24) cands.push({ id: v.getBigUint64(o, true), key: b.slice(o + 8, o + 24) });
  return { iv: b.slice(0, 12), aad, sealed, cands };
}

// sealBig encrypts frame through WebCrypto; the result is m.encrypt's
// ({status, data}). A frame the split path does not take (plain, wait, no
// key) goes through m.encrypt, and so does one WebCrypto fails on.
export async function sealBig(m, frame, codec = 1, alone = false) {
  m.put(frame);
  const h = m.x.seal_begin(codec, frame.length, alone ? 1 : 0);
  if (h === 0) return m.encrypt(frame, codec, alone);
  let r = sealRecord(m.output());
  for (;;) {
    let sealed;
    try {
      sealed = new Uint8Array(await crypto.subtle.encrypt(gcm(r.iv, r.aad), await cryptoKey(m, r.id, r.key), r.pt));
    } catch {
      m.x.seal_abort(h);
      return m.encrypt(frame, codec, alone);
    }
    m.put(sealed);
    const st = m.x.seal_finish(h, sealed.length);
    if (st === 1) return { status: 'encrypted', data: m.output().slice().buffer };
    if (st !== 2) return { status: 'failed', data: null };
    r = sealRecord(m.output()); // H.26x: a start code in the ciphertext, the next nonce
  }
}

// openBig decrypts frame from user through WebCrypto; the result is
// m.decrypt's (the emits, held frames first). The candidates are tried in
// the module's order; none opening (a failure is an exception) sends the
// frame down the module's hold path.
export async function openBig(m, user, frame) {
  m.put(frame);
  const h = m.x.open_begin(u64(user), frame.length);
  if (h === 0) return m.decrypt(user, frame);
  const j = openRecord(m.output());
  let keyId = 0n;
  let pt = EMPTY;
  for (const c of j.cands) {
    try {
      pt = new Uint8Array(await crypto.subtle.decrypt(gcm(j.iv, j.aad), await cryptoKey(m, c.id, c.key), j.sealed));
      keyId = c.id;
      break;
    } catch {
      // not this key (or tampered): the next one
    }
  }
  m.put(pt);
  return m.emits(m.x.open_finish(h, keyId, pt.length));
}

// encryptFrame is the send transform's call: big frames through sealBig,
// the others through the module. It may return a promise.
export function encryptFrame(m, frame, codec, alone) {
  return frame.length >= BIG_FRAME ? sealBig(m, frame, codec, alone) : m.encrypt(frame, codec, alone);
}

// decryptFrame is the receive transform's call: it hands the emits for
// frame from user to done, in the order frames of user arrive; big frames
// go through openBig. It returns a promise while frames of user are in
// WebCrypto (await it to keep the stream sequential), else undefined.
//
// done gets one emit per frame whatever happens: a call that throws (the
// module failed: a bug, a dead instance) hands done THROWN, one dropped
// emit for this frame, so the caller's count of frames awaiting an emit
// stays right.
export function decryptFrame(m, user, frame, done) {
  let t = tails.get(m);
  if (!t) tails.set(m, (t = new Map()));
  const tail = t.get(user);
  if (!tail && frame.length < BIG_FRAME) {
    let emits;
    try {
      emits = m.decrypt(user, frame);
    } catch {
      m.thrown++;
      emits = THROWN;
    }
    done(emits);
    return undefined;
  }
  const p = (tail || Promise.resolve())
    .then(() => (frame.length >= BIG_FRAME ? openBig(m, user, frame) : m.decrypt(user, frame)))
    .catch(() => {
      m.thrown++;
      return THROWN;
    })
    .then(done)
    .catch(() => {}) // done (release) does not throw
    .then(() => {
      if (t.get(user) === p) t.delete(user);
    });
  t.set(user, p);
  return p;
}

// benchSplit times encrypt+decrypt of frame through the split path
// between a sender a and a receiver b of user '1' (media-worker.js bench).
export async function benchSplit(a, b, frame, n) {
  const per = [];
  let ok = 0;
  for (let i = -100; i < n; i++) {
    const s = performance.now();
    const e = await sealBig(a, frame, 1, false);
    const d = await openBig(b, '1', new Uint8Array(e.data));
    if (i < 0) continue; // warm-up
    per.push(performance.now() - s);
    if (d.length === 1 && d[0].ok && d[0].data.byteLength === frame.length) ok++;
  }
  return { per_ms: per, ok };
}
