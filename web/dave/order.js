// order.js: the receive side's frame order (media-worker.js), apart from
// the Worker so Node can test it (order.test.js).
//
// The module emits once per frame passed to its decrypt, in order, but not
// always at once: a frame no current key opens is held for its sender's
// next key (dave.FrameSession.Decrypt) and emitted by a later decrypt or
// flush of that sender, and a big frame waits for WebCrypto
// (bigframes.js). So each received frame waits in its sender's queue here,
// with the stream controller it goes out through, and every emit of a
// sender answers that sender's oldest waiting frame: its data replaced
// with the plaintext and enqueued, or dropped.
//
// The sender of a frame is its SSRC's user when it arrives (setSSRC); a
// frame of an SSRC no one announced counts unknown_ssrc and goes to user
// '0' (no receiver key: transport-only frames follow passthrough, DAVE
// frames are held, then dropped). While frames wait, a timer flushes
// every sender with waiting frames (flushAll), so the held frames of a
// sender that went quiet or left are released or dropped within the hold
// time rather than at its next frame.
//
// A module call that throws (a bug, a dead instance) is answered by
// decryptFrame with one dropped emit (THROWN) for the frame of that call:
// that very frame is taken out of its sender's queue, wherever it is, so
// the frames held before it still get the module's later emits.
import { decryptFrame, THROWN } from './bigframes.js';

export class FrameOrder {
  // m: the DaveModule (receive may pass another: the last one is flushed);
  // flushEvery: the flush timer's period in ms; setInterval/clearInterval
  // (tests), called as plain functions (a browser's throw "Illegal
  // invocation" when called as methods of another object).
  constructor(m = null, { flushEvery = 50, setInterval: si = globalThis.setInterval, clearInterval: ci = globalThis.clearInterval } = {}) {
    this.m = m;
    this.flushEvery = flushEvery;
    this.timers = { si, ci };
    this.timer = 0;
    this.ssrcUser = new Map(); // SSRC -> user id (decimal string)
    this.pending = new Map(); // user -> [{frame, controller}] passed to decrypt, not yet emitted
    // Frames dropped here (the module counts its own): unknown_ssrc (sent
    // as user '0'), enqueue (the stream had closed); flush_failed counts
    // flush calls that threw (calls, not frames).
    this.drops = { unknown_ssrc: 0, enqueue: 0, flush_failed: 0 };
  }

  setSSRC(ssrc, user) {
    this.ssrcUser.set(ssrc, String(user));
  }

  forgetSSRC(ssrc) {
    this.ssrcUser.delete(ssrc);
  }

  // holding is the number of frames waiting for their emit.
  get holding() {
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }

  // receive passes an encoded frame (its data, getMetadata().
  // synchronizationSource) of module m to decrypt; its emit enqueues it on
  // controller, or drops it. It returns decryptFrame's promise while its
  // sender's frames are in WebCrypto (the transform awaits it), else
  // undefined.
  receive(m, frame, controller) {
    this.m = m;
    const ssrc = frame.getMetadata().synchronizationSource;
    let user = this.ssrcUser.get(ssrc);
    if (user === undefined) {
      this.drops.unknown_ssrc++;
      user = '0';
    }
    let q = this.pending.get(user);
    if (!q) this.pending.set(user, (q = []));
    const entry = { frame, controller };
    q.push(entry);
    return decryptFrame(m, user, new Uint8Array(frame.data), (emits) => this.release(user, emits, entry));
  }

  // release hands the emits of one decrypt or flush call for user to the
  // frames waiting for user, in order: each emit belongs to the oldest
  // one; THROWN (the call for entry threw) takes entry out.
  release(user, emits, entry = null) {
    const q = this.pending.get(user);
    if (emits === THROWN) {
      const i = q ? q.indexOf(entry) : -1;
      if (i >= 0) q.splice(i, 1); // dropped: counted by the module (thrown)
    } else {
      for (const e of emits) {
        const p = q && q.shift();
        if (!p) break;
        if (!e.ok) continue; // dropped: counted by the module
        p.frame.data = e.data;
        try {
          p.controller.enqueue(p.frame);
        } catch {
          this.drops.enqueue++; // the transform's stream has closed
        }
      }
    }
    if (q && q.length === 0 && this.pending.get(user) === q) this.pending.delete(user);
    this.arm();
  }

  // arm runs the flush timer while frames wait.
  arm() {
    const { si, ci } = this.timers;
    if (this.pending.size > 0 && !this.timer) this.timer = si(() => this.flushAll(), this.flushEvery);
    if (this.pending.size === 0 && this.timer) {
      ci(this.timer);
      this.timer = 0;
    }
  }

  // flushAll flushes every sender with waiting frames: the held frames a
  // new key opens, and those whose hold time is over (dropped). A flush
  // that throws is counted and tried again at the next tick; the frames
  // stay (forgetting them would hand the module's later emits to the
  // wrong frames).
  flushAll() {
    for (const user of [...this.pending.keys()]) {
      let emits = [];
      try {
        emits = this.m.flush(user);
      } catch {
        this.drops.flush_failed++;
      }
      this.release(user, emits);
    }
  }
}
