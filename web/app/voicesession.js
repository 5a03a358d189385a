// voicesession.js: the page's voice channel session. One click joins:
// gateway op 4 → VOICE_STATE_UPDATE (our session_id) + VOICE_SERVER_UPDATE
// (token, endpoint) → a VoiceConnection (/voice/voice.js) with the
// microphone. Remote audio plays through Web Audio: per user a GainNode
// (volume 0–200 %, 0 while deafened) and an AnalyserNode that measures
// what was played (heard()). A simple VAD on the microphone level drives
// setSpeaking, with a hangover. The requests to chat and the pairing of
// its answers, and the rejoin with a backoff after a connection failed for
// good, are VoiceSignal's (voicesignal.js, unit tested).
//
// Camera: setCamera(true) opens the camera (getUserMedia) and sends it as
// this user's video, two simulcast layers (voice.js's option video;
// setCamera(false) stops it); camera is 'off', 'starting' or 'on',
// cameraError why the last attempt failed (denied, no camera, in use) or
// that the camera was unplugged; preview a MediaStream of this user's own
// camera while on. videos: userId -> MediaStream of each other member's
// camera (voice.js's video/videoended events; gone when it stops or its
// member leaves). The camera stops when the call ends or moves; a rejoin
// after a failed connection sends it again.
//
// Events: 'change' (anything the page draws: members speaking, mute,
// state; {speaking: true} for the speaking rings only, {video: true} for
// the cameras only), 'status' {state, message, link} (idle, joining, connecting,
// connected, reconnecting, failed, refused; link: a page to open, for a
// voice certificate to accept), 'notice' {message} (to show once: a
// microphone unplugged, a speaker that cannot be used).
//
// End-to-end encryption: each connection gets a DaveClient (/dave/dave.js,
// loaded on demand) when daveSupport() says this browser can and the page
// did not turn it off (?e2ee=off, localStorage parley.e2ee=off; e2ee.js);
// else it joins without DAVE and e2ee.reason says why. e2ee: {enabled,
// reason, state (dave.state(), refreshed on its change events)}; codes:
// the pairwise verification codes asked for (pairwise(userId)). A server
// that requires DAVE refuses a browser without it (close 4017): the
// session ends with state 'refused' and a message that says why, and is
// not retried.

import { VoiceConnection } from '/voice/voice.js';
import { OP } from './gateway.js';
import { voiceEndpoint, voiceGatewayHost, voiceTrustURL } from './urls.js';
import { VoiceSignal } from './voicesignal.js';
import { e2eeDisabled, refusedMessage } from './e2ee.js';
import { cameraErrorMessage } from './video.js';

const VAD_DB = -50; // dBFS above which the microphone counts as talking
const VAD_HANGOVER = 350; // ms of quiet before speaking ends
const TICK = 50; // ms between level measurements
// A connection not up this long after it started or dropped (a socket that
// never opens nor closes, a server that never says Hello) is given up and
// rejoined through chat.
const STALL_MS = 30000;
const VOLUME_KEY = 'parley.volume.';
// VIDEO_RECEIVERS: receiving video transceivers made up front (voice.js
// adds more when more cameras are on).
const VIDEO_RECEIVERS = 2;
// CAMERA: what the camera is asked for (the high simulcast layer; the low
// one is half of it).
const CAMERA = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
const DAVE_BASE = '/dave/';

// makeDave makes a DaveClient for a connection, or says why not: {dave,
// reason}. It never throws.
async function makeDave(userId, channelId) {
  const off = e2eeDisabled();
  if (off) return { dave: null, reason: off };
  let mod;
  try {
    mod = await import(DAVE_BASE + 'dave.js');
  } catch {
    return { dave: null, reason: 'this build of Parley has no end-to-end encryption module' };
  }
  try {
    const sup = mod.daveSupport();
    if (!sup?.ok) return { dave: null, reason: sup?.reason || 'this browser has no WebRTC encoded transforms' };
    return { dave: await mod.DaveClient.create({ userId: String(userId), channelId: String(channelId), base: DAVE_BASE }), reason: '' };
  } catch (error) {
    return { dave: null, reason: String(error?.message ?? error) };
  }
}

// preloadDave gets the next join's DAVE ready ahead of it (dave.wasm
// fetched and compiled, a pair of workers with the module loaded:
// DaveClient.preload), so a join does not wait for them. It runs when
// the voice page starts and after each call; it never throws.
async function preloadDave() {
  if (e2eeDisabled()) return;
  try {
    const mod = await import(DAVE_BASE + 'dave.js');
    if (mod.daveSupport()?.ok) await mod.DaveClient.preload({ base: DAVE_BASE });
  } catch {
    // no module in this build, or a worker failed: the join says why
  }
}

function dbfs(buf) {
  let sum = 0;
  for (const v of buf) sum += v * v;
  return { ms: sum / buf.length, db: 10 * Math.log10(sum / buf.length + 1e-12) };
}

/** volumeOf is the stored volume (percent) for a user; 100 by default. */
export function volumeOf(userId, storage = globalThis.localStorage) {
  const v = Number(storage?.getItem(VOLUME_KEY + userId));
  return Number.isFinite(v) && storage?.getItem(VOLUME_KEY + userId) !== null ? Math.min(200, Math.max(0, v)) : 100;
}

// frontedVoice is the voice endpoint this origin fronts at /voice ('' for
// none), asked once per page.
let fronted = null;
function frontedVoice() {
  fronted ??= fetch('/voice', { credentials: 'same-origin' })
    .then((r) => (r.ok ? r.json() : {}))
    .then((j) => (typeof j?.endpoint === 'string' ? j.endpoint : ''))
    .catch(() => '');
  return fronted;
}

export class VoiceSession extends EventTarget {
  #sig; #me; #ctx = null; #mic = null; #micSrc = null; #micAnalyser = null;
  #vc = null; #stall = null; #users = new Map(); // userId -> {el, src, gain, analyser, buf}
  #tick = null; #lastTick = 0; #loudAt = 0;
  #gen = 0; // bumped by every join, leave and dispose: an await that sees it changed is stale
  #seq = 0; // bumped by every connect: a lookup of the fronted endpoint that sees it changed is stale
  #sink = null; // {el, dest}: the output through an <audio> element (no AudioContext.setSinkId)
  #heard = {};
  #dave = null; // the live connection's DaveClient
  #cam = null; // this user's camera track while on
  #disposed = false;

  constructor({ gateway, userId }) {
    super();
    this.#me = userId;
    this.#sig = new VoiceSignal({
      userId,
      send: (guildId, channelId) => gateway.send(OP.VOICE_STATE, {
        guild_id: guildId, channel_id: channelId,
        self_mute: this.selfMute || this.selfDeaf, self_deaf: this.selfDeaf,
      }),
      on: {
        connect: (p) => this.#connect(p),
        ended: () => this.#stop(), // disconnected by the server (moderation): not a drop to retry
        moved: () => this.#emit('change'),
        failed: (message) => this.#failed(message),
      },
    });
    this.state = 'idle'; // idle | joining | connecting | connected | reconnecting | failed
    this.selfMute = false;
    this.selfDeaf = false;
    this.micDenied = false;
    this.micError = '';
    this.speaking = new Set(); // user ids talking now (us included)
    this.inputDevice = localStorage.getItem('parley.inputDevice') || '';
    this.outputDevice = localStorage.getItem('parley.outputDevice') || '';
    this.e2ee = { enabled: false, reason: '', state: null };
    this.codes = new Map(); // userId -> pairwise verification code (45 digits)
    this.camera = 'off'; // off | starting | on
    this.cameraError = '';
    this.preview = null; // MediaStream of this user's camera while on
    this.videos = new Map(); // userId -> MediaStream of that member's camera
    preloadDave();
  }

  /** cameraAvailable: this page can ask for a camera at all (a secure context with getUserMedia). */
  static cameraAvailable() {
    return typeof globalThis.navigator?.mediaDevices?.getUserMedia === 'function';
  }

  /** outputSelectable: this browser can play to a chosen speaker. */
  static outputSelectable() {
    return typeof AudioContext === 'function' &&
      (typeof AudioContext.prototype.setSinkId === 'function' || typeof HTMLMediaElement.prototype.setSinkId === 'function');
  }

  get guildId() { return this.#sig.guildId; }
  get channelId() { return this.#sig.channelId; }
  get connection() { return this.#vc; }
  /** dave is the live connection's DaveClient, or null. */
  get dave() { return this.#dave; }

  /**
   * pairwise computes (in the MLS worker) the verification code of this
   * user and userId; it is kept in codes until the group changes.
   */
  async pairwise(userId) {
    const dave = this.#dave;
    if (!dave) throw new Error('the call is not end-to-end encrypted');
    const code = await dave.pairwiseCode(String(userId));
    if (dave !== this.#dave) return code;
    this.codes.set(String(userId), code);
    this.#emit('change');
    return code;
  }

  heard() { return { ...this.#heard }; }

  #emit(type, detail = {}) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  #setState(state, message = '', link = null) {
    this.state = state;
    this.#emit('status', { state, message, link });
    this.#emit('change');
  }

  // context makes the AudioContext; call it in a click, so it may start.
  #context() {
    if (!this.#ctx) {
      this.#ctx = new AudioContext({ latencyHint: 'interactive' });
      if (this.outputDevice) this.#applySink(this.outputDevice);
    }
    return this.#ctx;
  }

  #startTick() {
    if (this.#tick) return;
    this.#lastTick = performance.now();
    this.#tick = setInterval(() => this.#measure(), TICK);
  }

  #stopTick() {
    clearInterval(this.#tick);
    this.#tick = null;
  }

  // openMic opens a microphone ('' the default; exact: that one or none);
  // it throws as getUserMedia does.
  async #openMic(deviceId, exact = false) {
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (deviceId) audio.deviceId = exact ? { exact: deviceId } : { ideal: deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ audio });
    const [track, ...rest] = stream.getTracks();
    for (const t of rest) t.stop();
    if (!track) throw new Error('no audio track');
    return track;
  }

  // getMic is the microphone for a join, or null: micDenied and micError
  // say why (one can listen without it).
  async #getMic() {
    try {
      const track = await this.#openMic(this.inputDevice);
      this.micDenied = false;
      return track;
    } catch (error) {
      this.micDenied = true;
      const denied = error?.name === 'NotAllowedError' || error?.name === 'SecurityError';
      this.micError = denied
        ? 'Microphone access was denied: you can listen but not talk. Allow the microphone in the browser to talk.'
        : 'No microphone found: you can listen but not talk.';
      return null;
    }
  }

  #useMic(track) {
    this.#micSrc?.disconnect();
    this.#micSrc = this.#micAnalyser = null;
    if (this.#mic && this.#mic !== track) this.#mic.stop();
    this.#mic = track;
    if (!track) return;
    track.addEventListener('ended', () => this.#micEnded(track), { once: true });
    if (!this.#ctx) return;
    this.#micSrc = this.#ctx.createMediaStreamSource(new MediaStream([track]));
    this.#micAnalyser = this.#ctx.createAnalyser();
    this.#micAnalyser.fftSize = 1024;
    this.#micSrc.connect(this.#micAnalyser);
  }

  // micEnded: the microphone went away (unplugged, the permission
  // revoked): the default one takes over, or one listens only.
  async #micEnded(track) {
    if (this.#mic !== track || !this.channelId) return;
    const gen = this.#gen;
    let next = null;
    try {
      next = await this.#openMic('');
    } catch {
      // None left: listen only.
    }
    if (gen !== this.#gen || this.#mic !== track) return next?.stop();
    if (!next) {
      this.micDenied = true;
      this.micError = 'The microphone was disconnected: you can listen but not talk.';
    }
    this.#useMic(next);
    await this.#vc?.setTrack(next);
    this.#emit('notice', { message: next ? 'The microphone was disconnected; using the default one.' : this.micError });
    this.#emit('change');
  }

  /** join joins (or moves to) a voice channel; call it from the click. */
  async join(guildId, channelId) {
    const gen = ++this.#gen;
    if (this.channelId) { // moving: the old channel stops now, the camera too
      this.#teardown();
      this.#stopCamera();
    }
    this.#sig.join(guildId, channelId);
    this.#setState('joining', 'Joining voice…');
    const ctx = this.#context();
    if (ctx.state !== 'running') await ctx.resume().catch(() => {});
    if (gen !== this.#gen) return; // left, moved or signed out meanwhile
    this.#startTick();
    if (!this.#mic) {
      const track = await this.#getMic();
      if (gen !== this.#gen) return track?.stop(); // the permission prompt outlived the join
      this.#useMic(track);
      await this.#vc?.setTrack(track); // connected while the prompt was up
    }
    this.#emit('change');
  }

  /** leave leaves the voice channel. */
  leave() {
    this.#gen++;
    if (!this.channelId) return;
    this.#sig.leave();
    this.#stop();
  }

  // stop ends the session here: the connection, remote audio, the
  // microphone and the meter.
  #stop() {
    this.#gen++;
    this.#teardown();
    this.#useMic(null);
    this.#stopCamera();
    this.#stopTick();
    this.#setState('idle');
    if (!this.#disposed) preloadDave(); // the call took the loaded workers: ready the next one
  }

  /** dispose leaves and releases everything (sign-out): the AudioContext too. */
  dispose() {
    this.#disposed = true;
    this.leave();
    this.#stopTick();
    this.#useMic(null);
    this.#dropSink();
    this.#ctx?.close().catch(() => {});
    this.#ctx = null;
  }

  // teardown ends the voice connection and the remote audio.
  #teardown() {
    const vc = this.#vc;
    this.#vc = null;
    this.#unwatch();
    vc?.disconnect();
    this.#dave?.close();
    this.#dave = null;
    this.codes.clear();
    for (const id of [...this.#users.keys()]) this.#dropUser(id);
    this.speaking.clear();
    this.videos.clear();
  }

  #unwatch() {
    clearTimeout(this.#stall);
    this.#stall = null;
  }

  /** onDispatch follows the chat gateway's events (voice states, READY, RESUMED). */
  onDispatch(t, d) {
    this.#sig.dispatch(t, d);
  }

  #connect(p) {
    this.#teardown();
    const gen = this.#gen;
    const seq = ++this.#seq;
    Promise.all([frontedVoice(), makeDave(this.#me, p.channelId)]).then(([f, d]) => {
      if (gen === this.#gen && seq === this.#seq) this.#open(p, f, d);
      else d.dave?.close();
    });
  }

  // watchDave follows the DaveClient's state for the page.
  #watchDave(dave) {
    let asking = false, again = false;
    const refresh = async () => {
      if (asking) return void (again = true);
      asking = true;
      try {
        do {
          again = false;
          const st = await dave.state();
          if (this.#dave !== dave) return;
          if (st?.privacy_code !== this.e2ee.state?.privacy_code) this.codes.clear();
          this.e2ee = { ...this.e2ee, state: st };
          this.#emit('change');
        } while (again);
      } catch {
        // a closed client: the next connection has its own
      } finally {
        asking = false;
      }
    };
    dave.addEventListener('change', refresh);
    refresh();
    return refresh;
  }

  // open connects to p's endpoint: through this origin's /voice when it
  // fronts that endpoint (f), else directly.
  #open(p, f, { dave, reason }) {
    const endpoint = voiceEndpoint(p.endpoint);
    const vc = new VoiceConnection({
      endpoint: voiceGatewayHost(endpoint, f, location.host), serverId: String(p.guildId), userId: String(this.#me),
      sessionId: p.sessionId, token: p.token, track: this.#mic ?? undefined, dave: dave ?? undefined,
      video: true, videoReceivers: VIDEO_RECEIVERS, camera: this.#cam,
    });
    this.#vc = vc;
    this.#dave = dave;
    this.e2ee = { enabled: Boolean(dave), reason, state: null };
    const refreshDave = dave ? this.#watchDave(dave) : () => {};
    let opened = false; // a Hello came (then Ready or Resumed): the endpoint is reachable and trusted
    vc.addEventListener('ready', () => { opened = true; });
    vc.addEventListener('resumed', () => { opened = true; });
    // Down (connecting, or reconnecting after a drop) for STALL_MS: rejoin.
    const watch = () => {
      this.#stall ??= setTimeout(() => this.#vc === vc && this.#failed('The voice server did not answer.'), STALL_MS);
    };
    watch();
    vc.addEventListener('state', (e) => {
      if (this.#vc !== vc) return;
      const s = e.detail.state;
      if (s === 'connected') this.#unwatch();
      else watch();
      if (s === 'connected') {
        refreshDave();
        this.#sig.connected();
        this.#setState('connected', this.micDenied ? this.micError : '');
      } else if (s === 'reconnecting') this.#setState('reconnecting', 'Voice connection lost. Reconnecting…');
      else if (s === 'connecting') this.#setState('connecting', 'Connecting to voice…');
    });
    vc.addEventListener('speaking', (e) => {
      if (this.#vc !== vc) return;
      const { userId, speaking } = e.detail;
      if (speaking & 1) this.speaking.add(userId);
      else this.speaking.delete(userId);
      this.#emit('change', { speaking: true });
    });
    vc.addEventListener('track', (e) => this.#vc === vc && this.#play(e.detail.userId, e.detail.stream));
    vc.addEventListener('trackended', (e) => this.#vc === vc && this.#dropUser(e.detail.userId));
    vc.addEventListener('video', (e) => {
      if (this.#vc !== vc) return;
      this.videos.set(e.detail.userId, e.detail.stream);
      this.#emit('change', { video: true });
    });
    vc.addEventListener('videoended', (e) => {
      if (this.#vc !== vc) return;
      const s = this.videos.get(e.detail.userId);
      if (s && !s.getTracks().includes(e.detail.track)) return; // a newer one took its place
      this.videos.delete(e.detail.userId);
      this.#emit('change', { video: true });
    });
    vc.addEventListener('leave', (e) => {
      if (this.#vc !== vc) return;
      this.#dropUser(e.detail.userId);
      this.speaking.delete(e.detail.userId);
      this.videos.delete(e.detail.userId);
      this.#emit('change');
    });
    vc.addEventListener('close', (e) => {
      if (this.#vc !== vc || e.detail.reconnect) return;
      const { code, reason } = e.detail;
      if (code === 4017) return this.#refused();
      this.#failed(...this.#why(endpoint, code, opened, `Voice connection failed (${code}${reason ? ' ' + reason : ''}).`));
    });
    (async () => {
      if (this.selfMute || this.selfDeaf) await vc.setMute(true);
      this.#setState('connecting', 'Connecting to voice…');
      await vc.connect();
    })().catch((error) => {
      if (this.#vc !== vc || error?.code === 4017) return;
      const msg = `Could not connect to voice: ${String(error?.message ?? error).replace(/^voice: /, '')}`;
      this.#failed(...this.#why(endpoint, error?.code, opened, msg));
    });
  }

  // why explains a failed connection: a socket that never got a Hello
  // (1006 is all a browser tells) to a voice port other than the page's is
  // most likely a self-signed certificate the browser has not accepted
  // there; the person can accept it on a page of that port.
  #why(endpoint, code, opened, fallback) {
    const direct = this.#vc?.endpoint === endpoint; // not through this origin's /voice
    const trust = direct && !opened && code === 1006 ? voiceTrustURL(endpoint, location.host) : null;
    if (!trust) return [fallback, null];
    return [`Cannot reach the voice server. This browser may need to trust the server's certificate on the voice port (${endpoint}): open that page in a new tab, accept the certificate, then come back.`, trust];
  }

  // refused: the server requires end-to-end encryption and this
  // connection did not offer it (close 4017). Retrying cannot help: the
  // session leaves the channel and says why.
  #refused() {
    if (!this.channelId) return;
    const why = this.e2ee.reason || (this.e2ee.enabled ? 'the server refused its end-to-end encryption' : '');
    this.#sig.leave();
    this.#gen++;
    this.#teardown();
    this.#useMic(null);
    this.#stopCamera();
    this.#stopTick();
    this.#setState('refused', refusedMessage(why));
  }

  // failed: the connection closed for good; VoiceSignal rejoins through
  // chat (a new session and token) with a backoff, while the user stays in
  // the channel.
  #failed(message, link = null) {
    if (!this.channelId) return;
    this.#teardown();
    const wait = this.#sig.failed();
    this.#setState('failed', `${message} Retrying in ${Math.ceil(wait / 1000)} s…`, link);
  }

  // Output: the context's destination (switched with AudioContext.setSinkId
  // where the browser has it); else, for a chosen speaker, an <audio>
  // element (HTMLMediaElement.setSinkId) playing a MediaStreamDestination.
  #output() { return this.#sink?.dest ?? this.#ctx.destination; }

  #reroute() {
    for (const u of this.#users.values()) {
      u.analyser.disconnect();
      u.analyser.connect(this.#output());
    }
  }

  #dropSink() {
    if (!this.#sink) return;
    this.#sink.el.pause();
    this.#sink.el.srcObject = null;
    this.#sink = null;
    if (this.#ctx) this.#reroute();
  }

  async #applySink(deviceId) {
    const ctx = this.#ctx;
    const refused = () => this.#emit('notice', { message: 'That speaker cannot be used; playing on the default one.' });
    if (typeof ctx.setSinkId === 'function') {
      await ctx.setSinkId(deviceId || '').catch(refused);
      return;
    }
    if (typeof HTMLMediaElement.prototype.setSinkId !== 'function') return;
    if (!deviceId) return this.#dropSink();
    if (!this.#sink) {
      const dest = ctx.createMediaStreamDestination();
      const el = new Audio();
      el.srcObject = dest.stream;
      this.#sink = { el, dest };
      el.play().catch(() => {});
      this.#reroute();
    }
    const el = this.#sink.el;
    await el.setSinkId(deviceId).catch(() => {
      if (this.#sink?.el === el) this.#dropSink();
      refused();
    });
  }

  #play(userId, stream) {
    this.#dropUser(userId);
    const ctx = this.#ctx;
    if (!ctx) return;
    // Chromium feeds remote WebRTC audio into Web Audio only while a media
    // element plays the stream too (muted: Web Audio is what is heard).
    const el = new Audio();
    el.muted = true;
    el.srcObject = stream;
    el.play().catch(() => {});
    const src = ctx.createMediaStreamSource(stream);
    const gain = ctx.createGain();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 4096;
    gain.gain.value = this.selfDeaf ? 0 : volumeOf(userId) / 100;
    src.connect(gain).connect(analyser).connect(this.#output());
    this.#users.set(userId, { el, src, gain, analyser, buf: new Float32Array(analyser.fftSize) });
    this.#heard[userId] ??= 0;
  }

  #dropUser(userId) {
    const u = this.#users.get(userId);
    if (!u) return;
    u.src.disconnect();
    u.gain.disconnect();
    u.analyser.disconnect();
    u.el.srcObject = null;
    this.#users.delete(userId);
  }

  #measure() {
    const now = performance.now();
    const dt = Math.min((now - this.#lastTick) / 1000, 1);
    this.#lastTick = now;
    for (const [id, u] of this.#users) {
      u.analyser.getFloatTimeDomainData(u.buf);
      this.#heard[id] = (this.#heard[id] ?? 0) + dbfs(u.buf).ms * dt;
    }
    // The local VAD, with a hangover so words do not flicker the ring.
    let talking = false;
    if (this.#micAnalyser && this.#vc && !this.selfMute && !this.selfDeaf) {
      const buf = new Float32Array(this.#micAnalyser.fftSize);
      this.#micAnalyser.getFloatTimeDomainData(buf);
      if (dbfs(buf).db > VAD_DB) this.#loudAt = now;
      talking = now - this.#loudAt < VAD_HANGOVER;
    }
    if (talking !== this.speaking.has(this.#me)) {
      if (talking) this.speaking.add(this.#me);
      else this.speaking.delete(this.#me);
      this.#vc?.setSpeaking(talking);
      this.#emit('change', { speaking: true });
    }
  }

  async setMute(muted) {
    this.selfMute = Boolean(muted);
    await this.#applyMute();
  }

  async setDeaf(deaf) {
    this.selfDeaf = Boolean(deaf);
    for (const [id, u] of this.#users) u.gain.gain.value = this.selfDeaf ? 0 : volumeOf(id) / 100;
    await this.#applyMute();
  }

  async #applyMute() {
    this.#sig.update();
    this.#emit('change');
    await this.#vc?.setMute(this.selfMute || this.selfDeaf);
  }

  /** setVolume sets and remembers a user's volume in percent (0–200). */
  setVolume(userId, pct) {
    const v = Math.min(200, Math.max(0, Math.round(Number(pct) || 0)));
    localStorage.setItem(VOLUME_KEY + userId, String(v));
    const u = this.#users.get(userId);
    if (u && !this.selfDeaf) u.gain.gain.value = v / 100;
  }

  /**
   * setInputDevice switches the microphone without rejoining. If that one
   * cannot be opened it throws and the current one stays (and stays the
   * choice).
   */
  async setInputDevice(deviceId) {
    if (!this.channelId) {
      this.inputDevice = deviceId;
      localStorage.setItem('parley.inputDevice', deviceId);
      return;
    }
    const gen = this.#gen;
    let track;
    try {
      track = await this.#openMic(deviceId, true);
    } catch (error) {
      throw new Error(error?.name === 'NotAllowedError' ? 'the browser does not allow it' : 'it cannot be opened; the current one stays on');
    }
    if (gen !== this.#gen) return track.stop(); // left meanwhile
    this.inputDevice = deviceId;
    localStorage.setItem('parley.inputDevice', deviceId);
    this.micDenied = false;
    this.#useMic(track);
    await this.#vc?.setTrack(track);
    this.#emit('change');
  }

  async setOutputDevice(deviceId) {
    this.outputDevice = deviceId;
    localStorage.setItem('parley.outputDevice', deviceId);
    if (this.#ctx) await this.#applySink(deviceId);
  }

  /**
   * setCamera turns this user's camera on (true) or off (false) in the
   * call. Opening it may fail (denied, none, in use): the camera stays
   * off, cameraError says why and a 'notice' tells it once. It throws
   * only when not in a call.
   */
  async setCamera(on) {
    if (!this.channelId) throw new Error('join a voice channel first');
    if (!on) {
      this.#stopCamera();
      this.#emit('change', { video: true });
      await this.#vc?.setCamera(null);
      return;
    }
    if (this.camera !== 'off') return;
    const gen = this.#gen;
    this.camera = 'starting';
    this.cameraError = '';
    this.#emit('change', { video: true });
    let track;
    try {
      if (!VoiceSession.cameraAvailable()) throw Object.assign(new Error('no getUserMedia'), { name: 'TypeError' });
      const stream = await navigator.mediaDevices.getUserMedia({ video: CAMERA });
      const [t, ...rest] = stream.getVideoTracks();
      for (const x of [...rest, ...stream.getAudioTracks()]) x.stop();
      if (!t) throw Object.assign(new Error('no video track'), { name: 'NotFoundError' });
      track = t;
    } catch (error) {
      if (gen !== this.#gen) return;
      this.camera = 'off';
      this.cameraError = cameraErrorMessage(error);
      this.#emit('notice', { message: this.cameraError });
      this.#emit('change', { video: true });
      return;
    }
    if (gen !== this.#gen || this.camera !== 'starting') return track.stop(); // left, or turned off meanwhile
    track.contentHint = 'motion';
    track.addEventListener('ended', () => this.#cameraEnded(track), { once: true });
    this.#cam = track;
    this.preview = new MediaStream([track]);
    this.camera = 'on';
    this.#emit('change', { video: true });
    await this.#vc?.setCamera(track);
  }

  // stopCamera stops this user's camera here (the connection, if any, is
  // told by the caller or is going away).
  #stopCamera() {
    this.#cam?.stop();
    this.#cam = null;
    this.preview = null;
    this.camera = 'off';
  }

  // cameraEnded: the camera went away (unplugged, the permission revoked).
  #cameraEnded(track) {
    if (this.#cam !== track) return;
    this.#stopCamera();
    this.cameraError = 'The camera was disconnected.';
    this.#vc?.setCamera(null).catch(() => {});
    this.#emit('notice', { message: this.cameraError });
    this.#emit('change', { video: true });
  }

  /** pagehide leaves without waiting (the page is going away). */
  pagehide() {
    this.leave();
  }
}
