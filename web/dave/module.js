// The DAVE WebAssembly module (web/davewasm, built by `make web` into
// dave.wasm) behind a small JavaScript API. Both workers load it (the MLS
// worker uses the participant calls, the media worker the frame and key
// calls); the Node tests load it too.
//
// Bytes go through the module's input buffer (dave_in) and come back
// through the output the header names (dave_hdr); Go's memory may grow
// during any call, so the views are made again after every call.

const codecs = { opus: 1, vp8: 2, vp9: 3, h264: 4, h265: 5, av1: 6 };

// codecOf maps an RTP mime type ('audio/opus', 'video/VP8') to a dave.Codec
// number; unknown ones are 0 (encrypted whole).
export function codecOf(mimeType) {
  const name = String(mimeType || '').toLowerCase().split('/').pop();
  return codecs[name] || 0;
}

const encryptStatus = { 0: 'plain', 1: 'encrypted', 2: 'wait', [-1]: 'failed' };

// id turns a user id (a decimal string, a number or a bigint) into the
// module's u64.
function id(u) {
  return BigInt.asUintN(64, BigInt(u));
}

export class DaveModule {
  // load instantiates dave.wasm from source: a compiled WebAssembly.Module
  // (dave.js compiles it once and posts it to both workers), a URL
  // (fetched), a Response or the module's bytes. It needs Go's wasm_exec.js, which it imports
  // from beside this file unless globalThis.Go is already there.
  static async load(source) {
    if (!globalThis.Go) await import(new URL('./wasm_exec.js', import.meta.url).href);
    const go = new globalThis.Go();
    let result;
    if (source instanceof WebAssembly.Module) {
      result = { instance: await WebAssembly.instantiate(source, go.importObject) };
    } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
      result = await WebAssembly.instantiate(source, go.importObject);
    } else {
      const resp = typeof source === 'string' || source instanceof URL ? await fetch(source) : await source;
      if (!resp.ok) throw new Error(`dave.wasm: HTTP ${resp.status}`);
      result = await WebAssembly.instantiateStreaming(resp, go.importObject);
    }
    const m = new DaveModule(result.instance);
    go.run(result.instance); // runs main until it waits; the exports work from then on
    return m;
  }

  constructor(instance) {
    this.x = instance.exports;
    this.hdrPtr = 0;
    this.malformed = 0; // outputs that did not hold what their call said (counted, never read past)
    this.thrown = 0; // frames dropped because a call for them threw (media-worker.js, bigframes.js)
  }

  // put copies bytes into the input buffer.
  put(bytes) {
    const p = this.x.dave_in(bytes.length);
    new Uint8Array(this.x.mem.buffer, p, bytes.length).set(bytes);
  }

  putUsers(users) {
    const p = this.x.dave_in(8 * users.length);
    const v = new DataView(this.x.mem.buffer, p, 8 * users.length);
    users.forEach((u, i) => v.setBigUint64(8 * i, id(u), true));
  }

  // output returns a view of the last call's output (valid until the next call).
  // It throws rather than read outside the module's memory.
  output() {
    if (!this.hdrPtr) this.hdrPtr = this.x.dave_hdr();
    const buf = this.x.mem.buffer;
    const h = new Uint32Array(buf, this.hdrPtr, 2);
    if (h[0] + h[1] > buf.byteLength) throw new Error(`dave: output ${h[0]}+${h[1]} outside the module's memory`);
    return new Uint8Array(buf, h[0], h[1]);
  }

  // check throws the output's error when a call answered r < 0.
  check(r) {
    if (r < 0) throw new Error(new TextDecoder().decode(this.output()));
  }

  // fault makes the module's next call that reads its input panic
  // (tests: the panic is recovered, counted and reported).
  fault() {
    this.x.dave_fault();
  }

  outputJSON() {
    return JSON.parse(new TextDecoder().decode(this.output()));
  }

  // encrypt returns {status, data}: 'encrypted' with the DAVE frame (a
  // fresh ArrayBuffer), 'plain' (send frame as is), 'wait' (no sender key
  // yet: drop it) or 'failed' (drop it).
  encrypt(frame, codec = 1, alone = false) {
    this.put(frame);
    const st = this.x.frame_encrypt(codec, frame.length, alone ? 1 : 0);
    if (st !== 1) return { status: encryptStatus[st] || 'failed', data: null };
    return { status: 'encrypted', data: this.output().slice().buffer };
  }

  // decrypt returns the emits for a frame from user, in order: [{ok, data}]
  // (data a fresh ArrayBuffer when ok). It may be empty (the frame is held)
  // or hold earlier held frames first.
  decrypt(user, frame) {
    this.put(frame);
    return this.emits(this.x.frame_decrypt(id(user), frame.length));
  }

  // flush drops user's held frames whose time is over: their emits.
  flush(user) {
    return this.emits(this.x.frame_flush(id(user)));
  }

  // emits reads n emit records (u8 ok, u32 LE length, bytes) from the
  // output, never past its end: a record that does not fit (a module bug)
  // and the ones after it count as dropped, so the caller still gets one
  // emit per frame (counted in malformed).
  emits(n) {
    const out = [];
    if (n <= 0) return out;
    const b = this.output();
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const len = off + 5 <= b.length ? v.getUint32(off + 1, true) : -1;
      if (len < 0 || len > b.length - off - 5) {
        this.malformed++;
        for (; i < n; i++) out.push({ ok: false, data: null });
        break;
      }
      const ok = b[off] === 1;
      off += 5;
      out.push({ ok, data: ok ? b.slice(off, off + len).buffer : null });
      off += len;
    }
    return out;
  }

  frameStats() {
    if (this.x.frame_stats() < 0) return null;
    const st = this.outputJSON();
    if (this.malformed) st.malformed = this.malformed;
    if (this.thrown) st.dropped.thrown = this.thrown;
    return st;
  }

  // The media side's key state, as the MLS worker's KeySink reports it.
  // Each throws the module's error (a recovered panic). A base secret is
  // zeroed in the module's input buffer once taken.
  setProtocolVersion(v) {
    this.check(this.x.key_version(v));
  }

  setSenderKey(base) {
    if (!base) return this.check(this.x.key_sender(0, 0));
    this.put(base);
    this.check(this.x.key_sender(base.length, 1));
  }

  setReceiverKey(user, base, fresh) {
    this.put(base);
    this.check(this.x.key_receiver(id(user), base.length, fresh ? 1 : 0));
  }

  setMembers(users) {
    this.putUsers(users);
    this.check(this.x.key_members(users.length));
  }

  setPassthrough(on, expiryMs) {
    this.check(this.x.key_passthrough(on ? 1 : 0, Math.max(0, Math.round(expiryMs || 0))));
  }

  // applyKey replays one KeySink call ({k: 'version'|'sender'|'receiver'|
  // 'members'|'passthrough', ...}, as the MLS worker posts them).
  applyKey(e) {
    switch (e.k) {
      case 'version': return this.setProtocolVersion(e.v);
      case 'sender': return this.setSenderKey(e.base);
      case 'receiver': return this.setReceiverKey(e.user, e.base, e.fresh);
      case 'members': return this.setMembers(e.users || []);
      case 'passthrough': return this.setPassthrough(e.on, e.expiry_ms);
    }
    throw new Error(`dave: unknown key change ${e.k}`);
  }

  // The MLS side (dave.Participant). Each input returns its result:
  // {out: [{op, d} | Uint8Array], keys: [KeySink calls for applyKey],
  // changed, error}.
  mlsNew(userId, channelId) {
    const r = this.x.mls_new(id(userId), id(channelId));
    if (r < 0) throw new Error(`dave: ${new TextDecoder().decode(this.output())}`);
  }

  // mlsPrepare makes the key package op 4 will send, ahead of it
  // (dave.Participant.Prepare); it throws on failure.
  mlsPrepare() {
    if (this.x.mls_prepare() < 0) throw new Error(`dave: ${new TextDecoder().decode(this.output())}`);
  }

  // mlsAnnounced sets who the server announced (ops 11/13 and self).
  mlsAnnounced(users) {
    this.putUsers(users);
    this.x.mls_announced(users.length);
  }

  mlsSessionDescription(version) {
    this.x.mls_session_description(version);
    return this.result();
  }

  // mlsHandleJSON handles JSON op 21, 22 or 24 with its payload d (parsed
  // JSON): the module takes the fields as numbers (it carries no JSON
  // decoder). A field that is not a number in range is an error, as Go's
  // json.Unmarshal would find it; a missing one is 0.
  mlsHandleJSON(op, d) {
    const field = (name, max) => {
      const v = d?.[name] ?? 0;
      return Number.isInteger(v) && v >= 0 && v <= max ? v : NaN;
    };
    const tid = field('transition_id', 0xffff);
    const version = field('protocol_version', 0xffff);
    const epoch = field('epoch', Number.MAX_SAFE_INTEGER);
    if (d === null || typeof d !== 'object' || Number.isNaN(tid + version + epoch)) {
      return { out: [], keys: [], changed: false, error: `dave: op ${op}: a bad payload ${JSON.stringify(d)}` };
    }
    this.x.mls_handle(op, tid, version, BigInt(epoch));
    return this.result();
  }

  // mlsHandleBinary takes a whole server binary frame (u16 seq, u8 op,
  // payload).
  mlsHandleBinary(frame) {
    this.put(frame);
    this.x.mls_handle_binary(frame.length);
    return this.result();
  }

  mlsState() {
    this.x.mls_state();
    return this.outputJSON();
  }

  // mlsPairwiseCode returns the 45-digit code with user (scrypt: tens of
  // milliseconds); it throws when user is not in the group.
  mlsPairwiseCode(user) {
    const r = this.x.mls_pairwise(id(user));
    const s = new TextDecoder().decode(this.output());
    if (r < 0) throw new Error(s);
    return s;
  }

  result() {
    const r = this.outputJSON();
    return {
      out: (r.out || []).map((o) => (o.bin !== undefined ? fromBase64(o.bin) : { op: o.op, d: o.d })),
      keys: (r.keys || []).map((k) => (k.base !== undefined && k.base !== null ? { ...k, base: fromBase64(k.base) } : k)),
      changed: !!r.changed,
      error: r.error || '',
    };
  }
}

function fromBase64(s) {
  const bin = atob(s);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  return b;
}
