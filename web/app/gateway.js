// gateway.js: the chat gateway client (Discord's gateway v10, JSON, no
// compression). It identifies, heartbeats (the first beat after a random
// fraction of the interval, as Discord asks), resumes with session_id and
// seq on READY's resume_gateway_url after a drop, identifies afresh on
// op 9 (not resumable), 4007 and 4009, and backs off with jitter between
// attempts. A socket that opens but sends no Hello within helloTimeout is
// dropped and retried like any other drop. Unit tested in Node with a fake socket (gateway.test.js).
//
//   const gw = new Gateway({ url, token, intents });
//   gw.addEventListener('dispatch', (e) => e.detail /* {t, d, s} */);
//   gw.addEventListener('state', (e) => e.detail.state);
//   gw.addEventListener('fatal', (e) => e.detail /* {code, reason, auth} */);
//   gw.connect(); gw.send(4, {...}); gw.close();
//
// States: idle, connecting, connected (READY or RESUMED seen),
// reconnecting, closed (close() or a fatal code).

import { resumeURL } from './urls.js';

export const OP = {
  DISPATCH: 0, HEARTBEAT: 1, IDENTIFY: 2, PRESENCE: 3, VOICE_STATE: 4, RESUME: 6, RECONNECT: 7,
  INVALID_SESSION: 9, HELLO: 10, HEARTBEAT_ACK: 11,
};

export const INTENTS = {
  GUILDS: 1 << 0, GUILD_MEMBERS: 1 << 1, GUILD_VOICE_STATES: 1 << 7, GUILD_PRESENCES: 1 << 8,
  GUILD_MESSAGES: 1 << 9, GUILD_MESSAGE_TYPING: 1 << 11, MESSAGE_CONTENT: 1 << 15,
};

/** The intents the web client asks for. */
export const CLIENT_INTENTS = Object.values(INTENTS).reduce((a, b) => a | b, 0);

// Close codes a retry cannot fix: authentication failed (4004) and the
// configuration errors 4010-4014.
const FATAL = new Set([4004, 4010, 4011, 4012, 4013, 4014]);
// Codes after which the session is gone: identify again.
const FRESH = new Set([4007, 4009]);
// This side's close code for a connection that missed a heartbeat ACK or
// was asked to reconnect (op 7): not 1000/1001, which end the session.
export const CLOSE_RECONNECT = 4900;

/** closeAction says what follows a close code: 'fatal', 'identify' or 'resume'. */
export function closeAction(code) {
  if (FATAL.has(code)) return 'fatal';
  if (FRESH.has(code)) return 'identify';
  return 'resume';
}

/**
 * backoff is the wait before reconnection attempt n (1-based): a random
 * point in [base/2, base] where base doubles from 1 s up to max.
 */
export function backoff(attempt, random = Math.random, max = 30000) {
  if (attempt <= 1) return Math.floor(random() * 1000);
  const base = Math.min(1000 * 2 ** (attempt - 1), max);
  return Math.floor(base / 2 + random() * (base / 2));
}

export class Gateway extends EventTarget {
  #o; #ws = null; #hb = null; #first = null; #acked = true; #timer = null; #hello = null; #attempt = 0;
  #seq = null; #sessionId = null; #resumeUrl = null;

  /**
   * url: the gateway URL; token; intents; WebSocket: the constructor
   * (tests pass a fake); timers: {setTimeout, clearTimeout, setInterval,
   * clearInterval}; random: () => [0, 1); properties: identify properties;
   * helloTimeout: ms to wait for Hello on a new socket (15 s).
   */
  constructor(opts) {
    super();
    const g = globalThis;
    this.#o = {
      intents: CLIENT_INTENTS, WebSocket: g.WebSocket, random: Math.random, helloTimeout: 15000,
      timers: { setTimeout: g.setTimeout.bind(g), clearTimeout: g.clearTimeout.bind(g),
        setInterval: g.setInterval.bind(g), clearInterval: g.clearInterval.bind(g) },
      properties: { os: 'web', browser: 'parley-web', device: 'parley-web' },
      ...opts,
    };
    this.state = 'idle';
  }

  get sessionId() { return this.#sessionId; }
  get seq() { return this.#seq; }

  connect() {
    if (this.state !== 'idle' && this.state !== 'closed') return;
    this.#setState('connecting');
    this.#open();
  }

  /** close ends the session (1000): the server forgets it. */
  close(code = 1000) {
    const ws = this.#ws;
    this.#detach();
    try { ws?.close(code); } catch {}
    this.#sessionId = null;
    this.#seq = null;
    this.#setState('closed');
  }

  /** reconnect drops the socket and resumes (the network came back, say). */
  reconnect() {
    if (this.state === 'closed' || this.state === 'idle') return;
    this.#drop(CLOSE_RECONNECT, 'reconnect');
  }

  /** send sends an op if the socket is open; it reports whether it went. */
  send(op, d) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify({ op, d }));
    return true;
  }

  #emit(type, detail = {}) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  #setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.#emit('state', { state: s, attempt: this.#attempt });
  }

  #open() {
    const resume = Boolean(this.#sessionId);
    const url = resume ? resumeURL(this.#resumeUrl, this.#o.url) : this.#o.url;
    let ws;
    try {
      ws = new this.#o.WebSocket(url);
    } catch {
      return this.#closed(1006, 'cannot open');
    }
    this.#ws = ws;
    // A socket that never says Hello (a proxy that accepts and stalls, a
    // server stuck before it) would leave the page "Connecting…" forever.
    this.#hello = this.#o.timers.setTimeout(() => this.#ws === ws && this.#drop(CLOSE_RECONNECT, 'no hello'), this.#o.helloTimeout);
    ws.onmessage = (e) => {
      if (this.#ws !== ws || typeof e.data !== 'string') return;
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      this.#handle(m);
    };
    ws.onclose = (e) => this.#ws === ws && this.#closed(e.code, e.reason);
  }

  #handle(m) {
    const d = m.d;
    switch (m.op) {
      case OP.HELLO:
        this.#o.timers.clearTimeout(this.#hello);
        this.#hello = null;
        this.#heartbeat(d?.heartbeat_interval);
        if (this.#sessionId) this.send(OP.RESUME, { token: this.#o.token, session_id: this.#sessionId, seq: this.#seq });
        else this.send(OP.IDENTIFY, { token: this.#o.token, intents: this.#o.intents, properties: this.#o.properties });
        break;
      case OP.HEARTBEAT_ACK:
        this.#acked = true;
        break;
      case OP.HEARTBEAT:
        this.send(OP.HEARTBEAT, this.#seq);
        break;
      case OP.RECONNECT:
        this.#drop(CLOSE_RECONNECT, 'reconnect requested');
        break;
      case OP.INVALID_SESSION:
        // d true: resumable; false: identify afresh (after 1-5 s, as Discord asks).
        if (!d) {
          this.#sessionId = null;
          this.#seq = null;
        }
        this.#restart(1000 + Math.floor(this.#o.random() * 4000));
        break;
      case OP.DISPATCH:
        if (typeof m.s === 'number') this.#seq = m.s;
        if (m.t === 'READY') {
          this.#sessionId = d?.session_id ?? null;
          this.#resumeUrl = d?.resume_gateway_url ?? null;
          this.#attempt = 0;
          this.#setState('connected');
        } else if (m.t === 'RESUMED') {
          this.#attempt = 0;
          this.#setState('connected');
        }
        this.#emit('dispatch', { t: m.t, d, s: m.s });
        break;
    }
  }

  #heartbeat(interval) {
    const t = this.#o.timers;
    this.#stopHeartbeat();
    const ms = Math.max(Number(interval) || 41250, 1000);
    this.#acked = true;
    const beat = () => {
      if (!this.#acked) return this.#drop(CLOSE_RECONNECT, 'heartbeat not acknowledged');
      this.#acked = false;
      this.send(OP.HEARTBEAT, this.#seq);
    };
    this.#first = t.setTimeout(() => {
      beat();
      this.#hb = t.setInterval(beat, ms);
    }, Math.floor(ms * this.#o.random()));
  }

  #stopHeartbeat() {
    const t = this.#o.timers;
    t.clearTimeout(this.#first);
    t.clearInterval(this.#hb);
    this.#first = this.#hb = null;
  }

  #detach() {
    this.#stopHeartbeat();
    this.#o.timers.clearTimeout(this.#timer);
    this.#o.timers.clearTimeout(this.#hello);
    this.#timer = this.#hello = null;
    if (this.#ws) this.#ws.onmessage = this.#ws.onclose = null;
    this.#ws = null;
  }

  // drop closes the socket from this side and reconnects as after a drop.
  #drop(code, reason) {
    const ws = this.#ws;
    this.#detach();
    try { ws?.close(code, reason); } catch {}
    this.#closed(code, reason);
  }

  // restart closes the socket and opens another after ms.
  #restart(ms) {
    const ws = this.#ws;
    this.#detach();
    try { ws?.close(CLOSE_RECONNECT, 'invalid session'); } catch {}
    this.#setState('reconnecting');
    this.#timer = this.#o.timers.setTimeout(() => this.#open(), ms);
  }

  #closed(code, reason) {
    this.#detach();
    const action = closeAction(code);
    this.#emit('close', { code, reason, action });
    if (action === 'fatal') {
      this.#sessionId = null;
      this.#setState('closed');
      this.#emit('fatal', { code, reason, auth: code === 4004 });
      return;
    }
    if (action === 'identify') {
      this.#sessionId = null;
      this.#seq = null;
    }
    const attempt = ++this.#attempt;
    this.#setState('reconnecting');
    this.#timer = this.#o.timers.setTimeout(() => this.#open(), backoff(attempt, this.#o.random));
  }
}
