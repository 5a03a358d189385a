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
import { encryptFrame, benchSplit } from './bigframes.js';
import { FrameOrder } from './order.js';

let dave = null;
let wasmSource = null;
let loaded = null; // Promise of dave
let alone = true;
const order = new FrameOrder(); // received frames per sender, awaiting their emits (order.js)

function load() {
  return dave ? Promise.resolve(dave) : loaded;
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
      await order.receive(m, frame, controller); // big frames: WebCrypto
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
      order.setSSRC(m.ssrc, m.user);
      return;
    case 'forget-ssrc':
      order.forgetSSRC(m.ssrc);
      return;
    case 'alone':
      alone = !!m.alone;
      return;
    case 'streams':
      setup(m.side, m.kind, m.readable, m.writable);
      return;
    case 'stats': {
      const st = (await load()).frameStats();
      for (const [k, v] of Object.entries(order.drops)) if (v) st.dropped[k] = (st.dropped[k] || 0) + v;
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
