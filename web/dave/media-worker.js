// media-worker.js: the DAVE frame transforms (a dedicated module Worker).
// It runs the module's frame side (dave.FrameSession): every outgoing
// frame is encrypted, every incoming one decrypted, in order, on this one
// thread, so the MLS work in mls-worker.js never holds a frame up.
//
// Frames arrive through RTCRtpScriptTransform (the worker's rtctransform
// event, options {side: 'send'|'recv', kind}) or, where the browser has
// only createEncodedStreams, as streams the main thread transfers here
// ({type: 'streams', side, kind, readable, writable}).
//
// Messages from the main thread (dave.js):
//   {type: 'init', wasm}             a WebAssembly.Module or URL of dave.wasm; answers {type: 'ready'} or {type: 'error'}
//   {type: 'key', change}            a KeySink call of the MLS worker (DaveModule.applyKey)
//   {type: 'ssrc', ssrc, user}       frames with this SSRC come from user; {type: 'forget-ssrc', ssrc}
//   {type: 'alone', alone}           whether no one else is in the call (send plain until a key exists)
//   {type: 'stats', id}              answers {type: 'reply', id, value: counters}
//   {type: 'bench', id, n, size}     answers {type: 'reply', id, value: timings} (tests; two fresh instances)
import { DaveModule, codecOf } from './module.js';
import { encryptFrame, decryptFrame, benchSplit } from './bigframes.js';

let dave = null;
let wasmSource = null;
let loaded = null; // Promise of dave
let alone = true;
const ssrcUser = new Map(); // SSRC -> user id (decimal string)
const pending = new Map(); // user -> [{frame, controller}] passed to decrypt, not yet emitted
const drops = { unknown_ssrc: 0, enqueue: 0 };
let flushTimer = 0;

function load() {
  return dave ? Promise.resolve(dave) : loaded;
}

// release hands the emits of one decrypt or flush call to the frames
// waiting for user, in order: each emit belongs to the oldest one.
function release(user, emits) {
  const q = pending.get(user);
  for (const e of emits) {
    const p = q && q.shift();
    if (!p) break;
    if (!e.ok) continue; // dropped: counted by the module
    p.frame.data = e.data;
    try {
      p.controller.enqueue(p.frame);
    } catch {
      drops.enqueue++; // the transform's stream has closed
    }
  }
  if (q && q.length === 0) pending.delete(user);
  if (pending.size > 0 && !flushTimer) flushTimer = setInterval(flushAll, 50);
  if (pending.size === 0 && flushTimer) {
    clearInterval(flushTimer);
    flushTimer = 0;
  }
}

// flushAll drops the held frames of senders that went quiet.
function flushAll() {
  for (const user of [...pending.keys()]) {
    let emits = [];
    try {
      emits = dave.flush(user);
    } catch {
      dave.thrown++;
    }
    release(user, emits);
  }
}

function sendTransform(kind) {
  return {
    async transform(frame, controller) {
      const m = dave || (await load());
      const meta = frame.getMetadata ? frame.getMetadata() : {};
      const codec = codecOf(meta.mimeType || (kind === 'video' ? 'video/VP8' : 'audio/opus')); // the camera sends VP8
      let r;
      try {
        r = await encryptFrame(m, new Uint8Array(frame.data), codec, alone); // big frames: WebCrypto
      } catch {
        m.thrown++; // dropped: the stream goes on
        return;
      }
      if (r.status === 'encrypted') {
        frame.data = r.data;
        controller.enqueue(frame);
      } else if (r.status === 'plain') {
        controller.enqueue(frame);
      } // 'wait' (no sender key yet) and 'failed' are dropped and counted
    },
  };
}

function recvTransform() {
  return {
    async transform(frame, controller) {
      const m = dave || (await load());
      const ssrc = frame.getMetadata().synchronizationSource;
      let user = ssrcUser.get(ssrc);
      if (user === undefined) {
        drops.unknown_ssrc++;
        user = '0'; // no receiver key: transport-only frames follow passthrough, DAVE frames are dropped
      }
      let q = pending.get(user);
      if (!q) pending.set(user, (q = []));
      q.push({ frame, controller });
      await decryptFrame(m, user, new Uint8Array(frame.data), (emits) => release(user, emits)); // big frames: WebCrypto
    },
  };
}

function setup(side, kind, readable, writable) {
  const t = side === 'send' ? sendTransform(kind) : recvTransform();
  readable
    .pipeThrough(new TransformStream(t))
    .pipeTo(writable)
    .catch(() => {}); // the sender or receiver went away
}

self.onrtctransform = (e) => {
  const { side, kind } = e.transformer.options || {};
  setup(side, kind, e.transformer.readable, e.transformer.writable);
};

// bench measures encrypt+decrypt of a size-byte frame n times through two
// fresh instances (a sender and a receiver sharing a base secret).
async function bench({ n = 2000, size = 100 }) {
  const a = await DaveModule.load(wasmSource);
  const b = await DaveModule.load(wasmSource);
  const base = crypto.getRandomValues(new Uint8Array(16));
  a.setProtocolVersion(1);
  b.setProtocolVersion(1);
  a.setSenderKey(base);
  b.setReceiverKey('1', base, false);
  const frame = crypto.getRandomValues(new Uint8Array(size));
  frame[0] = 0x78; // not the Opus silence frame
  const per = [];
  let ok = 0;
  for (let i = 0; i < 300; i++) b.decrypt('1', new Uint8Array(a.encrypt(frame, 1, false).data)); // warm-up (tier-up)
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const e = a.encrypt(frame, 1, false);
    const d = b.decrypt('1', new Uint8Array(e.data));
    per.push(performance.now() - s);
    if (d.length === 1 && d[0].ok && d[0].data.byteLength === size) ok++;
  }
  const total = performance.now() - t0;
  return { n, size, ok, total_ms: total, per_ms: per, isolated: !!self.crossOriginIsolated, webcrypto_per_ms: await benchWebCrypto(n, frame, base), split: await benchSplit(a, b, frame, n) };
}

// benchWebCrypto times the same round trip through WebCrypto AES-128-GCM
// with DAVE's 8-byte tag (for comparison: the video path's option).
async function benchWebCrypto(n, frame, raw) {
  const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const iv = new Uint8Array(12);
  const per = [];
  for (let i = -100; i < n; i++) {
    const s = performance.now();
    new DataView(iv.buffer).setUint32(8, i + 101, true);
    const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, tagLength: 64 }, key, frame);
    await crypto.subtle.decrypt({ name: 'AES-GCM', iv, tagLength: 64 }, key, ct);
    if (i >= 0) per.push(performance.now() - s);
  }
  return per;
}

async function handle(m) {
  switch (m.type) {
    case 'init':
      wasmSource = m.wasm;
      loaded = DaveModule.load(m.wasm);
      try {
        dave = await loaded;
        self.postMessage({ type: 'ready' });
      } catch (err) {
        self.postMessage({ type: 'error', error: `dave.wasm: ${err.message || err}` });
      }
      return;
    case 'key':
      (await load()).applyKey(m.change);
      m.change.base?.fill(0); // the module has its copy
      return;
    case 'ssrc':
      ssrcUser.set(m.ssrc, String(m.user));
      return;
    case 'forget-ssrc':
      ssrcUser.delete(m.ssrc);
      return;
    case 'alone':
      alone = !!m.alone;
      return;
    case 'streams':
      setup(m.side, m.kind, m.readable, m.writable);
      return;
    case 'stats': {
      const st = (await load()).frameStats();
      for (const [k, v] of Object.entries(drops)) if (v) st.dropped[k] = (st.dropped[k] || 0) + v;
      self.postMessage({ type: 'reply', id: m.id, value: st });
      return;
    }
    case 'bench':
      self.postMessage({ type: 'reply', id: m.id, value: await bench(m) });
      return;
  }
}

// Messages are handled one after the other, in order (a key change before
// the frames that need it).
let queue = Promise.resolve();
self.onmessage = (e) => {
  queue = queue.then(() => handle(e.data)).catch((err) => self.postMessage({ type: 'error', error: String(err && err.message || err) }));
};
