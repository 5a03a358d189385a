// dave.js: DAVE (Discord's end-to-end media encryption) in the browser,
// the main thread's side (shared/docs/webrtc.md §4). It runs Parley's own
// Go participant, compiled to WebAssembly (dave.wasm, built by `make
// web`), in two dedicated Workers: mls-worker.js (the MLS group: key
// packages, commits, Welcomes) and media-worker.js (the frame transforms,
// through WebRTC Encoded Transforms). The MLS worker's key changes come
// back here and go on to the media worker; voice.js feeds the DAVE
// opcodes in and sends what comes out.
//
//   import { DaveClient, daveSupport } from '/dave/dave.js';
//   const dave = await DaveClient.create({ userId, channelId, base: '/dave/' });
//   dave.send = (msg) => ...;  // {op, d} (JSON op 23/31) or a Uint8Array (binary op 26/28)

// daveSupport says whether this browser can run DAVE: WebAssembly,
// module Workers and an encoded transform (RTCRtpScriptTransform
// preferred, else createEncodedStreams).
export function daveSupport() {
  const no = (reason) => ({ ok: false, transform: null, reason });
  if (typeof WebAssembly !== 'object') return no('this browser has no WebAssembly');
  if (typeof Worker !== 'function') return no('this browser has no Web Workers');
  if (typeof RTCRtpScriptTransform === 'function') return { ok: true, transform: 'script', reason: '' };
  if (typeof RTCRtpSender !== 'undefined' && typeof RTCRtpSender.prototype.createEncodedStreams === 'function') {
    return { ok: true, transform: 'streams', reason: '' };
  }
  return no('this browser has no WebRTC encoded transforms (RTCRtpScriptTransform or createEncodedStreams)');
}

const readyTimeout = 20000; // ms a worker has to load the module

const compiled = new Map(); // dave.wasm URL -> Promise of its WebAssembly.Module
const spares = new Map(); // base URL -> Promise of a loaded pair of workers (preload)

// baseURL resolves the directory dave.wasm and the workers are served from.
function baseURL(base) {
  if (!base.endsWith('/')) base += '/';
  return new URL(base, location.href);
}

// compile fetches and compiles dave.wasm once per page (a failure is
// forgotten, so a later call tries again).
function compile(url) {
  const href = new URL('dave.wasm', url).href;
  if (!compiled.has(href)) {
    const p = fetchAndCompile(href);
    compiled.set(href, p);
    p.catch(() => compiled.delete(href));
  }
  return compiled.get(href);
}

async function fetchAndCompile(href) {
  let resp;
  try {
    resp = await fetch(href);
  } catch (err) {
    throw new Error(`end-to-end encryption is unavailable: dave.wasm: ${err.message}`);
  }
  if (resp.status === 404) {
    throw new Error('end-to-end encryption is unavailable in this build (no dave.wasm: `make web` builds it)');
  }
  if (!resp.ok) throw new Error(`end-to-end encryption is unavailable: dave.wasm: HTTP ${resp.status}`);
  try {
    return await WebAssembly.compileStreaming(resp);
  } catch (err) {
    throw new Error(`end-to-end encryption is unavailable: dave.wasm does not compile: ${err.message}`);
  }
}

// startPair starts the MLS and the media worker with the module loaded:
// {mls, media}. client, if given, notes the milestones.
async function startPair(url, client) {
  const wasm = await compile(url);
  client?.mark('compiled');
  const started = [startWorker(new URL('mls-worker.js', url), { type: 'init', wasm }), startWorker(new URL('media-worker.js', url), { type: 'init', wasm })];
  const [mls, media] = await Promise.allSettled(started);
  if (mls.status === 'fulfilled' && media.status === 'fulfilled') return { mls: mls.value, media: media.value };
  for (const r of [mls, media]) if (r.status === 'fulfilled') r.value.terminate();
  throw (mls.status === 'rejected' ? mls : media).reason;
}

// startWorker starts a module worker, sends it init and waits for its
// ready (or its error).
function startWorker(url, init) {
  const w = new Worker(url, { type: 'module' });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`dave: ${url} did not start within ${readyTimeout / 1000} s`)), readyTimeout);
    const fail = (err) => {
      clearTimeout(timer);
      w.terminate();
      reject(err);
    };
    w.onerror = (e) => fail(new Error(`dave: ${url} failed: ${e.message || 'worker error'}`));
    w.onmessage = (e) => {
      if (e.data.type === 'ready') {
        clearTimeout(timer);
        w.onerror = null;
        w.onmessage = null;
        resolve(w);
      } else if (e.data.type === 'error') {
        fail(new Error(e.data.error));
      }
    };
    w.postMessage(init);
  });
}

export class DaveClient extends EventTarget {
  // rtcConfig is what the RTCPeerConnection's configuration needs for the
  // transform in use: createEncodedStreams works only with
  // encodedInsertableStreams (and then every sender and receiver must be
  // attached, or its media stops).
  static rtcConfig(transform = daveSupport().transform) {
    return transform === 'streams' ? { encodedInsertableStreams: true } : {};
  }

  // preload gets a join ready ahead of it: it fetches and compiles
  // dave.wasm (once per page: later creates reuse the compiled module and
  // the code the browser optimised) and starts a pair of workers with the
  // module loaded, which the next create takes. Call it when a join is
  // likely (the page shows voice channels; a call ended), not for every
  // page: the pair holds two instances of the module. It resolves when
  // the pair is ready, or rejects with create's error.
  static preload({ base = '/dave/' } = {}) {
    const url = baseURL(base);
    if (!spares.has(url.href)) {
      const pair = startPair(url);
      spares.set(url.href, pair);
      pair.catch(() => spares.get(url.href) === pair && spares.delete(url.href));
    }
    return spares.get(url.href).then(() => {});
  }

  // create starts the client for userId in channelId: it takes the pair
  // of workers preload started (or starts one: loading dave.wasm, compiled
  // once, shared by both workers) and has the MLS worker prepare its key
  // package at once. It throws an Error that says why DAVE is not
  // available: no dave.wasm in this build, no transforms, a worker failed.
  // transform forces 'script' or 'streams' (tests).
  static async create({ userId, channelId, base = '/dave/', transform } = {}) {
    const t0 = performance.now();
    const sup = daveSupport();
    if (!sup.ok) throw new Error(`end-to-end encryption is unavailable: ${sup.reason}`);
    transform = transform || sup.transform;
    if (transform === 'script' && typeof RTCRtpScriptTransform !== 'function') {
      throw new Error('end-to-end encryption is unavailable: no RTCRtpScriptTransform');
    }
    const url = baseURL(base);
    const spare = spares.get(url.href);
    spares.delete(url.href);
    const c = new DaveClient(String(userId), transform, t0);
    try {
      let pair = spare ? await spare.catch(() => null) : null;
      if (pair) c.mark('preloaded');
      else {
        pair = await startPair(url, c);
        c.mark('workers');
      }
      c.mls = pair.mls;
      c.media = pair.media;
      c.mls.onmessage = (e) => c.fromMLS(e.data);
      c.media.onmessage = (e) => c.fromMedia(e.data);
      await c.request(c.mls, { type: 'start', userId: String(userId), channelId: String(channelId) });
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  constructor(userId, transform, t0 = performance.now()) {
    super();
    this.t0 = t0;
    this.marks = []; // [{what, ms}]: the join's milestones (timeline)
    this.userId = userId;
    this.transform = transform;
    this.send = null; // set by voice.js
    this.mls = null;
    this.media = null;
    this.nextId = 1;
    this.waiting = new Map(); // request id -> {resolve, reject}
    this.closed = false;
  }

  // mark notes a milestone once, ms after create began (timeline).
  mark(what, extra) {
    if (this.marks.some((m) => m.what === what)) return;
    this.marks.push({ what, ms: Math.round(performance.now() - this.t0), ...extra });
  }

  // timeline is the join's milestones: [{what, ms}] in ms since create
  // began (preloaded: preload's workers taken, or compiled and workers;
  // session: op 4, key_package: op 26 sent, with mls_ms the MLS worker's
  // time on it, welcome: op 30 in, sender_key: this client's first key).
  timeline() {
    return this.marks.slice();
  }

  fromMLS(m) {
    switch (m.type) {
      case 'result':
        // Keys first: the media side has them before the gateway hears
        // op 23 (ready) or sees the commit that needs them.
        for (const change of m.keys) {
          if (change.k === 'sender' && change.base) this.mark('sender_key');
          this.media.postMessage({ type: 'key', change }, change.base ? [change.base.buffer] : []); // moved: the page keeps no secret
        }
        for (const msg of m.out) {
          if (msg instanceof Uint8Array && msg[0] === 26) this.mark('key_package', { mls_ms: m.ms });
          if (this.send) this.send(msg);
        }
        if (m.error) this.dispatchEvent(Object.assign(new Event('error'), { message: m.error }));
        if (m.changed) this.dispatchEvent(new Event('change'));
        return;
      case 'reply':
        return this.reply(m);
      case 'error':
        this.dispatchEvent(Object.assign(new Event('error'), { message: m.error }));
    }
  }

  fromMedia(m) {
    if (m.type === 'reply') this.reply(m);
    else if (m.type === 'error') this.dispatchEvent(Object.assign(new Event('error'), { message: m.error }));
  }

  reply(m) {
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.error) w.reject(new Error(m.error));
    else w.resolve(m.value);
  }

  request(worker, msg) {
    if (this.closed) return Promise.reject(new Error('dave: closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id });
    });
  }

  // setMembers: the users the server announced (ops 11/13; self is added).
  // Adds of anyone else are refused.
  setMembers(userIds) {
    const users = [...new Set([...userIds.map(String), this.userId])];
    this.mls.postMessage({ type: 'members', users });
    this.media.postMessage({ type: 'alone', alone: users.length <= 1 });
  }

  // setSSRC: frames with ssrc come from userId (op 5).
  setSSRC(ssrc, userId) {
    this.media.postMessage({ type: 'ssrc', ssrc: ssrc >>> 0, user: String(userId) });
  }

  forgetSSRC(ssrc) {
    this.media.postMessage({ type: 'forget-ssrc', ssrc: ssrc >>> 0 });
  }

  // sessionDescription: op 4's dave_protocol_version. The media worker
  // hears the version at once, not only when the MLS worker's answer
  // (after its key package) comes back: at version 1 without a sender
  // key it drops what it would send (counted not_ready) instead of
  // sending plain Opus the server refuses.
  sessionDescription(version) {
    version = version | 0;
    this.mark('session');
    this.setVersion(version);
    this.mls.postMessage({ type: 'session', version });
  }

  // handleJSON: ops 21, 22, 24 (d as parsed JSON). An upgrade (op 24 for
  // epoch 1) reaches the media worker at once, as op 4 does.
  handleJSON(op, d) {
    if (op === 24 && Number(d?.epoch) === 1) this.setVersion(Number(d.protocol_version) | 0);
    this.mls.postMessage({ type: 'json', op, d });
  }

  setVersion(v) {
    this.media.postMessage({ type: 'key', change: { k: 'version', v } });
  }

  // handleBinary: a whole server binary frame (u16 seq, u8 op, payload).
  handleBinary(bytes) {
    const frame = bytes instanceof Uint8Array ? bytes.slice() : new Uint8Array(bytes);
    if (frame[2] === 30) this.mark('welcome');
    this.mls.postMessage({ type: 'binary', frame }, [frame.buffer]);
  }

  // attachSender: kind ('audio', 'video': a camera, whose frames are VP8)
  // when the sender has no track yet.
  attachSender(sender, kind) {
    this.attach(sender, 'send', kind || (sender.track && sender.track.kind) || 'audio');
  }

  attachReceiver(receiver) {
    this.attach(receiver, 'recv', (receiver.track && receiver.track.kind) || 'audio');
  }

  attach(target, side, kind) {
    if (this.transform === 'script') {
      target.transform = new RTCRtpScriptTransform(this.media, { side, kind });
      return;
    }
    const { readable, writable } = target.createEncodedStreams();
    this.media.postMessage({ type: 'streams', side, kind, readable, writable }, [readable, writable]);
  }

  // state: the participant's state and the frame counters.
  async state() {
    const [st, frames] = await Promise.all([this.request(this.mls, { type: 'state' }), this.request(this.media, { type: 'stats' })]);
    return { ...st, frames };
  }

  // pairwiseCode: the 45-digit code this user and userId compare.
  pairwiseCode(userId) {
    return this.request(this.mls, { type: 'pairwise', user: String(userId) });
  }

  // bench measures the media worker's encrypt+decrypt (tests).
  bench(n, size) {
    return this.request(this.media, { type: 'bench', n, size });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.mls) this.mls.terminate();
    if (this.media) this.media.terminate();
    for (const w of this.waiting.values()) w.reject(new Error('dave: closed'));
    this.waiting.clear();
  }
}
