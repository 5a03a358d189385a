// voicesession.js: the page's voice channel session. One click joins:
// gateway op 4 → VOICE_STATE_UPDATE (our session_id) + VOICE_SERVER_UPDATE
// (token, endpoint) → a VoiceConnection (/voice/voice.js) with the
// microphone. Remote audio plays through Web Audio: per user a GainNode
// (volume 0–200 %, 0 while deafened) and an AnalyserNode that measures
// what was played (heard()). A simple VAD on the microphone level drives
// setSpeaking, with a hangover. A connection that fails for good is
// rejoined through chat with a backoff.
//
// Events: 'change' (anything the page draws: members speaking, mute,
// state), 'status' {state, message} (connected, connecting, reconnecting,
// mic-denied, voice-failed, idle).

import { VoiceConnection } from '/voice/voice.js';
import { OP, backoff } from './gateway.js';
import { voiceEndpoint } from './urls.js';

const VAD_DB = -50; // dBFS above which the microphone counts as talking
const VAD_HANGOVER = 350; // ms of quiet before speaking ends
const TICK = 50; // ms between level measurements
const VOLUME_KEY = 'parley.volume.';

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

export class VoiceSession extends EventTarget {
  #gw; #me; #ctx = null; #mic = null; #micSrc = null; #micAnalyser = null;
  #vc = null; #pending = null; #users = new Map(); // userId -> {el, src, gain, analyser, buf}
  #tick = null; #lastTick = 0; #loudAt = 0; #rejoin = null; #rejoins = 0; #leaving = false;
  #heard = {};

  constructor({ gateway, userId }) {
    super();
    this.#gw = gateway;
    this.#me = userId;
    this.guildId = null;
    this.channelId = null;
    this.state = 'idle'; // idle | joining | connecting | connected | reconnecting | failed
    this.selfMute = false;
    this.selfDeaf = false;
    this.micDenied = false;
    this.speaking = new Set(); // user ids talking now (us included)
    this.inputDevice = localStorage.getItem('parley.inputDevice') || '';
    this.outputDevice = localStorage.getItem('parley.outputDevice') || '';
  }

  get connection() { return this.#vc; }

  heard() { return { ...this.#heard }; }

  #emit(type, detail = {}) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  #setState(state, message) {
    this.state = state;
    this.#emit('status', { state, message });
    this.#emit('change');
  }

  // audio makes the AudioContext (in a click, so it may start) and the tick.
  async #audio() {
    if (!this.#ctx) {
      this.#ctx = new AudioContext({ latencyHint: 'interactive' });
      if (this.outputDevice) await this.#applySink(this.outputDevice);
    }
    if (this.#ctx.state !== 'running') await this.#ctx.resume().catch(() => {});
    if (!this.#tick) {
      this.#lastTick = performance.now();
      this.#tick = setInterval(() => this.#measure(), TICK);
    }
    return this.#ctx;
  }

  async #getMic() {
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (this.inputDevice) audio.deviceId = { ideal: this.inputDevice };
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio });
      this.micDenied = false;
      return stream.getAudioTracks()[0] ?? null;
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
    if (!track || !this.#ctx) return;
    this.#micSrc = this.#ctx.createMediaStreamSource(new MediaStream([track]));
    this.#micAnalyser = this.#ctx.createAnalyser();
    this.#micAnalyser.fftSize = 1024;
    this.#micSrc.connect(this.#micAnalyser);
  }

  /** join joins (or moves to) a voice channel; call it from the click. */
  async join(guildId, channelId) {
    clearTimeout(this.#rejoin);
    this.#leaving = false;
    const moving = this.channelId && this.channelId !== channelId;
    this.guildId = guildId;
    this.channelId = channelId;
    if (!moving) this.#setState('joining', 'Joining voice…');
    await this.#audio();
    if (!this.#mic) this.#useMic(await this.#getMic());
    if (this.channelId !== channelId) return; // left or moved meanwhile
    this.#pending = { guildId, channelId, sessionId: null, server: null };
    this.#sendState();
    this.#emit('change');
  }

  #sendState(leave = false) {
    return this.#gw.send(OP.VOICE_STATE, {
      guild_id: this.guildId, channel_id: leave ? null : this.channelId,
      self_mute: this.selfMute || this.selfDeaf, self_deaf: this.selfDeaf,
    });
  }

  /** leave leaves the voice channel. */
  leave() {
    if (!this.channelId) return;
    clearTimeout(this.#rejoin);
    this.#leaving = true;
    this.#sendState(true);
    this.#teardown();
    this.channelId = null;
    this.#pending = null;
    this.#rejoins = 0;
    this.#useMic(null);
    this.#setState('idle', '');
  }

  // teardown ends the voice connection and the remote audio.
  #teardown() {
    const vc = this.#vc;
    this.#vc = null;
    vc?.disconnect();
    for (const id of [...this.#users.keys()]) this.#dropUser(id);
    this.speaking.clear();
  }

  /** onDispatch follows the chat gateway's voice events. */
  onDispatch(t, d) {
    if (t === 'VOICE_STATE_UPDATE' && d?.user_id === this.#me) {
      if (!d.channel_id) {
        // Disconnected by the server (moderation, a timeout): not a drop
        // to retry; but a rejoin's own leave is expected once.
        if (this.#pending?.leaving) {
          this.#pending.leaving = false;
          return;
        }
        if (this.channelId && d.guild_id === this.guildId) {
          this.#pending = null;
          this.#teardown();
          this.channelId = null;
          this.#useMic(null);
          this.#setState('idle', '');
        }
        return;
      }
      if (this.#pending && d.channel_id === this.#pending.channelId) {
        this.#pending.sessionId = d.session_id;
        this.#maybeConnect();
      } else if (this.channelId && d.channel_id !== this.channelId && d.guild_id === this.guildId) {
        this.channelId = d.channel_id; // moved by a moderator: a server update follows
        this.#pending = { guildId: d.guild_id, channelId: d.channel_id, sessionId: d.session_id, server: null };
      }
    } else if (t === 'VOICE_SERVER_UPDATE' && d?.guild_id === this.guildId && this.channelId) {
      if (!this.#pending) this.#pending = { guildId: this.guildId, channelId: this.channelId, sessionId: null, server: null };
      this.#pending.server = d;
      this.#maybeConnect();
    } else if (t === 'READY' && this.channelId && !this.#leaving) {
      // A fresh chat session: the server may have ended our voice state
      // with the old one; asking again is harmless when it did not (no
      // server update comes, and the connection carries on).
      this.#pending = { guildId: this.guildId, channelId: this.channelId, sessionId: null, server: null };
      this.#sendState();
    }
  }

  #maybeConnect() {
    const p = this.#pending;
    if (!p?.sessionId || !p.server) return;
    this.#pending = null;
    this.#teardown();
    this.#connect(p);
  }

  async #connect(p) {
    const vc = new VoiceConnection({
      endpoint: voiceEndpoint(p.server.endpoint), serverId: String(p.guildId), userId: String(this.#me),
      sessionId: p.sessionId, token: p.server.token, track: this.#mic ?? undefined,
    });
    this.#vc = vc;
    vc.addEventListener('state', (e) => {
      if (this.#vc !== vc) return;
      const s = e.detail.state;
      if (s === 'connected') {
        this.#rejoins = 0;
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
    vc.addEventListener('leave', (e) => {
      if (this.#vc !== vc) return;
      this.#dropUser(e.detail.userId);
      this.speaking.delete(e.detail.userId);
      this.#emit('change');
    });
    vc.addEventListener('close', (e) => {
      if (this.#vc !== vc || e.detail.reconnect) return;
      this.#failed(`Voice connection failed (${e.detail.code}${e.detail.reason ? ' ' + e.detail.reason : ''}).`);
    });
    if (this.selfMute || this.selfDeaf) await vc.setMute(true);
    this.#setState('connecting', 'Connecting to voice…');
    try {
      await vc.connect();
    } catch (error) {
      if (this.#vc === vc) this.#failed(`Could not connect to voice: ${error.message.replace(/^voice: /, '')}`);
    }
  }

  // failed: the connection closed for good; rejoin through chat (a new
  // session and token) with a backoff, while the user stays in the channel.
  #failed(message) {
    if (this.#leaving || !this.channelId) return;
    this.#teardown();
    const attempt = ++this.#rejoins;
    const wait = backoff(attempt + 1);
    this.#setState('failed', `${message} Retrying in ${Math.ceil(wait / 1000)} s…`);
    clearTimeout(this.#rejoin);
    this.#rejoin = setTimeout(() => {
      if (!this.channelId || this.#leaving) return;
      this.#pending = { guildId: this.guildId, channelId: this.channelId, sessionId: null, server: null, leaving: true };
      this.#sendState(true);
      this.#sendState();
    }, wait);
  }

  #output() { return this.#ctx.destination; }

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
    if (this.channelId) this.#sendState();
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

  /** setInputDevice switches the microphone without rejoining. */
  async setInputDevice(deviceId) {
    this.inputDevice = deviceId;
    localStorage.setItem('parley.inputDevice', deviceId);
    if (!this.channelId) return;
    const track = await this.#getMic();
    if (!track) return this.#emit('status', { state: this.state, message: this.micError });
    this.#useMic(track);
    await this.#vc?.setTrack(track);
    this.#emit('change');
  }

  async setOutputDevice(deviceId) {
    this.outputDevice = deviceId;
    localStorage.setItem('parley.outputDevice', deviceId);
    if (this.#ctx) await this.#applySink(deviceId);
  }

  async #applySink(deviceId) {
    if (typeof this.#ctx.setSinkId !== 'function') return;
    try {
      await this.#ctx.setSinkId(deviceId || '');
    } catch {
      this.#emit('status', { state: this.state, message: 'That speaker cannot be used; playing on the default one.' });
    }
  }

  /** pagehide leaves without waiting (the page is going away). */
  pagehide() {
    if (!this.channelId) return;
    this.#leaving = true;
    this.#sendState(true);
    this.#vc?.disconnect();
  }
}
