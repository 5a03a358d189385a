// harness.js: what interop/voice_browser_test.go drives in the page. It joins
// with web/voice/voice.js (served as /voice.js), plays every remote track
// through WebAudio and measures what was played, and offers the test a
// real Opus encoder (WebCodecs) and decoder (decodeAudioData). With
// join's dave option it speaks DAVE through web/dave/dave.js (served at
// /dave/) unless the page's URL says ?e2ee=off, and shows the call's
// end-to-end encryption with the web client's own box (web/app/e2ee.js,
// served at /app/).
import { VoiceConnection, offerFragment } from '/voice.js';
import { e2eeDisabled, refusedMessage, renderE2EE } from '/app/e2ee.js';

const LOUD = -35; // dBFS of a 20 ms window that carries a tone
const $ = (id) => document.getElementById(id);
const lines = [];
const events = { closes: [], resumed: 0, connected: 0, errors: [], marks: [] }; // what status() reports
const meters = new Map(); // userId -> {analyser, buf, loud, windows, peak, level, el}
const names = new Map(); // userId -> what the client is (setNames), for the page
let vc = null;
let audio = null;
let dave = null; // the DaveClient of the current connection
const e2ee = { enabled: false, reason: '', state: null, codes: new Map(), refused: '' };
let packets = {}; // voice.js stats(), refreshed every 250 ms for the packets column

function note(s) {
  lines.push(`${(performance.now() / 1000).toFixed(2)}s ${s}`);
  $('log').textContent = lines.slice(-14).join('\n');
}

function dbfs(buf) {
  let sum = 0;
  for (const v of buf) sum += v * v;
  return 10 * Math.log10(sum / buf.length + 1e-12);
}

// listen plays a user's stream (voice.js's track event) and measures it.
// Chromium pulls remote WebRTC audio into WebAudio only while a media
// element plays the stream too.
function listen(userId, stream) {
  meters.get(userId)?.src.disconnect();
  const old = meters.get(userId);
  const el = new Audio();
  el.muted = true;
  el.srcObject = stream;
  el.play().catch(() => {});
  const src = audio.createMediaStreamSource(stream);
  const analyser = audio.createAnalyser();
  analyser.fftSize = 1024;
  src.connect(analyser);
  analyser.connect(audio.destination);
  meters.set(userId, { src, el, analyser, buf: new Float32Array(analyser.fftSize), loud: 0, windows: 0, peak: -120, level: -120,
    quietFrom: old?.quietFrom ?? performance.now(), maxQuiet: old?.maxQuiet ?? 0 });
}

setInterval(() => {
  for (const m of meters.values()) {
    m.analyser.getFloatTimeDomainData(m.buf);
    m.level = dbfs(m.buf);
    m.windows++;
    if (m.level > LOUD) m.loud++;
    m.peak = Math.max(m.peak, m.level);
    // The longest run of quiet since resetGaps (a user who is not loud).
    const now = performance.now();
    if (m.level > LOUD) m.quietFrom = now;
    m.maxQuiet = Math.max(m.maxQuiet, now - m.quietFrom);
  }
  render();
}, 20);

let polling = false;
setInterval(async () => {
  if (!vc?.pc || polling) return;
  polling = true;
  try {
    packets = await vc.stats();
  } catch {} finally {
    polling = false;
  }
}, 250);

function render() {
  $('state').textContent = vc?.state ?? 'idle';
  $('ssrc').textContent = vc?.ssrc || '-';
  const rows = [...(vc?.users ?? new Map())].map(([id, u]) => {
    const m = meters.get(id);
    const width = m ? Math.max(0, Math.min(100, (m.level + 60) * (100 / 60))) : 0;
    const p = Object.values(packets).find((s) => s.userId === id);
    const who = names.has(id) ? `<div class="who">${names.get(id)}</div>` : '';
    return `<tr><td>${id}${who}</td><td>${u.ssrc || '-'}</td><td class="${u.speaking ? 'speaking' : ''}">${u.speaking ? 'speaking' : '-'}</td>` +
      `<td><div class="meter"><div style="width:${width.toFixed(0)}%"></div></div></td><td>${p?.packetsReceived ?? 0}</td></tr>`;
  });
  $('users').innerHTML = rows.join('');
}

// showE2EE draws the web client's E2EE box and the refusal, if any.
function showE2EE() {
  renderE2EE($('e2ee'), e2ee, { me: $('me').textContent, name: (id) => names.get(id) ?? id, codes: e2ee.codes,
    verify: (id) => harness.pairwise(id) });
  $('refused').textContent = e2ee.refused;
  $('refused').hidden = !e2ee.refused;
}

async function refreshDave(d) {
  try {
    const st = await d.state();
    if (d !== dave) return;
    e2ee.state = st;
    showE2EE();
  } catch {}
}

// makeDave makes a DaveClient unless the page says ?e2ee=off (e2ee.reason
// says why not); transform forces 'script' (RTCRtpScriptTransform) or
// 'streams' (createEncodedStreams), else the browser's choice.
async function makeDave(creds, { transform } = {}) {
  const off = e2eeDisabled(location.search, null);
  if (off) return { reason: off };
  const mod = await import('/dave/dave.js');
  const sup = mod.daveSupport();
  if (!sup.ok) return { reason: sup.reason };
  const d = await mod.DaveClient.create({ userId: creds.user_id, channelId: creds.channel_id, base: '/dave/', transform });
  return { dave: d, reason: '' };
}

// encode encodes 48 kHz mono samples as 20 ms Opus packets (WebCodecs), base64.
async function encode(data) {
  const frames = [];
  let failed = null;
  const enc = new AudioEncoder({
    output: (chunk) => {
      const b = new Uint8Array(chunk.byteLength);
      chunk.copyTo(b);
      frames.push(base64(b));
    },
    error: (e) => (failed = e),
  });
  enc.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1, bitrate: 64000, opus: { frameDuration: 20000 } });
  enc.encode(new AudioData({ format: 'f32', sampleRate: 48000, numberOfFrames: data.length, numberOfChannels: 1, timestamp: 0, data }));
  await enc.flush();
  enc.close();
  if (failed) throw failed;
  return frames;
}

// pitch estimates the fundamental (80-600 Hz) of 48 kHz samples: the
// shortest lag whose autocorrelation comes within 10 % of the best.
function pitch(x) {
  const corr = [];
  let best = 0;
  for (let lag = 80; lag <= 600; lag++) {
    let c = 0;
    for (let i = 0; i + lag < x.length; i++) c += x[i] * x[i + lag];
    corr[lag] = c;
    best = Math.max(best, c);
  }
  for (let lag = 81; lag < 600; lag++) {
    if (corr[lag] >= 0.9 * best && corr[lag] >= corr[lag - 1] && corr[lag] >= corr[lag + 1]) return 48000 / lag;
  }
  return 0;
}

function base64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

let camTrack = null;

// showVideo shows a user's camera (or 'me', the preview) in a video tile.
function showVideo(id, stream) {
  let v = document.getElementById('v-' + id);
  if (!v) {
    v = document.createElement('video');
    v.id = 'v-' + id;
    v.muted = v.autoplay = v.playsInline = true;
    v.width = 320;
    v.height = 180;
    v.title = id;
    $('videos').append(v);
  }
  v.srcObject = stream;
  v.play().catch(() => {});
}

window.harness = {
  // join connects as creds (what `parley voice-token` prints) with the fake
  // microphone, receivers recvonly transceivers up front. opts.dave: true,
  // or {transform: 'script'|'streams'} (DaveClient.create's transform).
  // The DaveClient's rtcConfig reaches the RTCPeerConnection (voice.js).
  async join(creds, receivers, opts = {}) {
    audio ??= new AudioContext({ sampleRate: 48000 });
    await audio.resume();
    const began = performance.now();
    Object.assign(e2ee, { enabled: false, reason: 'not asked for', state: null, refused: '' });
    e2ee.codes.clear();
    dave = null;
    if (opts.dave) {
      const made = await makeDave(creds, typeof opts.dave === 'object' ? opts.dave : {});
      dave = made.dave ?? null;
      Object.assign(e2ee, { enabled: Boolean(dave), reason: made.reason });
    }
    const d = dave;
    d?.addEventListener('change', () => refreshDave(d));
    // The join's milestones (timeline), in ms since join began.
    const mark = (what) => events.marks.push({ what, ms: Math.round(performance.now() - began) });
    events.marks = [];
    events.daveBegan = d ? d.t0 - began : 0;
    if (d) mark('dave_created');
    // Join to first decrypted frame, for the test's log.
    if (d) {
      events.firstDecrypted = 0;
      const poll = setInterval(async () => {
        if (d !== dave) return clearInterval(poll);
        const st = await d.state().catch(() => null);
        if (st?.frames?.decrypted > 0 && !events.firstDecrypted) {
          events.firstDecrypted = performance.now() - began;
          mark('first_decrypted');
          clearInterval(poll);
        }
      }, 20);
    }
    const mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    $('me').textContent = creds.user_id;
    vc = new VoiceConnection({
      endpoint: creds.endpoint, serverId: creds.guild_id, userId: creds.user_id,
      sessionId: creds.session_id, token: creds.token, track: mic.getAudioTracks()[0], receivers, dave: d ?? undefined,
      video: Boolean(opts.video), videoReceivers: opts.videoReceivers ?? (opts.video ? 2 : 0), // audio tests count transceivers
    });
    vc.addEventListener('state', (e) => note(`state ${e.detail.state}`));
    vc.addEventListener('ready', (e) => { mark('ready'); note(`ready ssrc ${e.detail.ssrc}`); });
    vc.addEventListener('connected', () => { events.connected++; mark('connected'); note('connected'); });
    vc.addEventListener('resumed', () => { events.resumed++; note('resumed'); });
    vc.addEventListener('reconnecting', (e) => note(`reconnecting #${e.detail.attempt} resume=${e.detail.resume}`));
    vc.addEventListener('close', (e) => {
      events.closes.push(e.detail.code);
      note(`close ${e.detail.code} ${e.detail.reason} -> ${e.detail.reconnect}`);
      if (e.detail.code === 4017) {
        e2ee.refused = refusedMessage(e2ee.reason);
        showE2EE();
      }
    });
    vc.addEventListener('join', (e) => note(`join ${e.detail.userId}`));
    vc.addEventListener('leave', (e) => { meters.get(e.detail.userId)?.src.disconnect(); meters.delete(e.detail.userId); note(`leave ${e.detail.userId}`); });
    vc.addEventListener('video', (e) => { showVideo(e.detail.userId, e.detail.stream); note(`video ${e.detail.userId} ssrc ${e.detail.ssrc}`); });
    vc.addEventListener('videoended', (e) => { $('v-' + e.detail.userId)?.remove(); note(`videoended ${e.detail.userId}`); });
    vc.addEventListener('track', (e) => { listen(e.detail.userId, e.detail.stream); note(`track ${e.detail.userId} ssrc ${e.detail.ssrc}`); });
    // Stopping what ended, as a web author may: the receiver, reused for the
    // next user, must not go silent.
    vc.addEventListener('trackended', (e) => { e.detail.track?.stop(); note(`trackended ${e.detail.userId} ssrc ${e.detail.ssrc}`); });
    vc.addEventListener('media', (e) => note(`media ${e.detail.state}`));
    vc.addEventListener('error', (e) => { events.errors.push(String(e.detail.error)); note(`error ${e.detail.error}`); });
    vc.setSpeaking(true); // the fake microphone always talks
    showE2EE();
    if (d) refreshDave(d);
    await vc.connect();
    return vc.ssrc;
  },

  // preloadDave gets DAVE ready for the next join (dave.js preload), as a
  // web client does when a call is likely; it resolves once it is.
  async preloadDave() {
    if (e2eeDisabled(location.search, null)) return;
    const mod = await import('/dave/dave.js');
    if (mod.daveSupport().ok) await mod.DaveClient.preload({ base: '/dave/' });
  },

  // leave disconnects (and closes the DaveClient; DAVE is preloaded again
  // for the next join).
  leave() {
    vc?.disconnect();
    if (dave) harness.preloadDave().catch(() => {});
    dave?.close();
    dave = null;
    for (const m of meters.values()) m.src.disconnect();
    meters.clear();
    note('left');
  },

  // timeline is the last join's milestones in ms since it began, the
  // page's and the DaveClient's (dave.js timeline), in time order.
  timeline() {
    const fromDave = (dave?.timeline?.() ?? []).map((m) => ({ ...m, ms: Math.round(m.ms + events.daveBegan) }));
    return [...(events.marks ?? []), ...fromDave].sort((a, b) => a.ms - b.ms);
  },

  // dave is the DaveClient's state and its transform ('script' or
  // 'streams'); null without one.
  async dave() {
    return dave ? { ...(await dave.state()), transform: dave.transform } : null;
  },

  // e2ee is what the page shows: {enabled, reason, refused, code (grouped), state}.
  e2ee() {
    return { enabled: e2ee.enabled, reason: e2ee.reason, refused: e2ee.refused, code: $('e2ee').querySelector('.e2ee-code')?.textContent ?? '',
      mode: $('e2ee').dataset.e2ee ?? '' };
  },

  // pairwise is the pairwise verification code with userId (shown in the box).
  async pairwise(userId) {
    const code = await dave.pairwiseCode(userId);
    e2ee.codes.set(userId, code);
    showE2EE();
    return code;
  },

  // gaps is, per user, the longest time (ms) the page played nothing loud since resetGaps.
  gaps() {
    const now = performance.now();
    const out = {};
    for (const [id, m] of meters) out[id] = Math.round(Math.max(m.maxQuiet, now - m.quietFrom));
    return out;
  },

  resetGaps() {
    const now = performance.now();
    for (const m of meters.values()) Object.assign(m, { quietFrom: now, maxQuiet: 0 });
  },

  // tryConnect connects a second VoiceConnection (no microphone, no
  // receivers) with opts over the defaults and reports how connect()
  // settled: {ok, error, code, state (before any disconnect), closes}.
  async tryConnect(opts) {
    const out = { closes: [] };
    try {
      const c = new VoiceConnection({ serverId: '1', userId: '2', sessionId: 's', token: 't', receivers: 0, ...opts });
      c.addEventListener('close', (e) => out.closes.push({ code: e.detail.code, reason: e.detail.reason, reconnect: e.detail.reconnect }));
      try {
        await c.connect();
        out.ok = true;
      } catch (e) {
        Object.assign(out, { ok: false, error: e.message, code: e.code ?? 0 });
      }
      out.state = c.state;
      c.disconnect();
    } catch (e) {
      Object.assign(out, { ok: false, error: `${e.name}: ${e.message}` });
    }
    note(`tryConnect ${opts.endpoint}: ${out.ok ? 'connected' : out.error}`);
    return out;
  },

  // setNames labels users on the page ({userId: 'what the client is'}).
  setNames(byUser) {
    for (const [id, name] of Object.entries(byUser)) names.set(id, name);
  },

  // camera turns the fake camera on (640x360, two simulcast layers) or off.
  async camera(on) {
    if (!on) {
      await vc.setCamera(null);
      camTrack?.stop();
      camTrack = null;
      $('v-me')?.remove();
      return;
    }
    const cam = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 20 } });
    camTrack = cam.getVideoTracks()[0];
    showVideo('me', cam);
    await vc.setCamera(camTrack);
    note('camera on');
  },

  // videoStats is voice.js's videoStats().
  videoStats() {
    return vc ? vc.videoStats() : { inbound: {}, outbound: {} };
  },

  async setMute(muted) {
    await vc.setMute(muted);
    note(muted ? 'muted' : 'unmuted');
  },

  status() {
    const users = {};
    for (const [id, u] of vc?.users ?? []) users[id] = { ssrc: u.ssrc, speaking: u.speaking, track: Boolean(u.track) };
    return { state: vc?.state ?? 'idle', ssrc: vc?.ssrc ?? 0, media: vc?.pc?.connectionState ?? '', transceivers: vc?.pc?.getTransceivers().length ?? 0, users, ...events };
  },

  // offer is the browser's current local offer and its fragment, as voice.js reduces it.
  offer() {
    const sdp = vc.pc.localDescription.sdp;
    return { sdp, fragment: offerFragment(sdp) };
  },

  // stats is getStats' inbound audio by remote SSRC.
  async stats() {
    packets = vc ? await vc.stats() : {};
    return packets;
  },

  // rtcp is what the server's RTCP told the browser: sender reports per
  // received SSRC (remote-outbound-rtp) and receiver reports on what it
  // sends (remote-inbound-rtp, with round-trip times).
  async rtcp() {
    const out = { senderReports: {}, rttMeasurements: 0 };
    for (const s of (await vc.pc.getStats()).values()) {
      if (s.type === 'remote-outbound-rtp') out.senderReports[s.ssrc] = s.reportsSent;
      if (s.type === 'remote-inbound-rtp') out.rttMeasurements += s.roundTripTimeMeasurements ?? 0;
    }
    return out;
  },

  // mediaPort is the local UDP port of the ICE candidate pair in use (0 before there is one).
  async mediaPort() {
    const stats = await vc.pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = stats.get(s.selectedCandidatePairId);
        return stats.get(pair?.localCandidateId)?.port ?? 0;
      }
    }
    return 0;
  },

  // levels is what the page played per user: 20 ms windows over LOUD, and the peak.
  levels() {
    const out = {};
    for (const [id, m] of meters) out[id] = { loud: m.loud, windows: m.windows, peak: m.peak };
    return out;
  },

  resetLevels() {
    for (const m of meters.values()) Object.assign(m, { loud: 0, windows: 0, peak: -120 });
  },

  // encodeTone encodes ms of a tone at freq Hz (with two harmonics) as 20 ms
  // Opus packets, base64.
  async encodeTone(freq, ms) {
    const n = (48000 * ms) / 1000;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const w = (2 * Math.PI * freq * i) / 48000;
      data[i] = 0.3 * Math.sin(w) + 0.1 * Math.sin(2 * w) + 0.05 * Math.sin(3 * w);
    }
    return encode(data);
  },

  // encodeWAV encodes a 48 kHz mono WAV file (served from /rec/) as 20 ms
  // Opus packets, base64.
  async encodeWAV(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    const decoded = await new OfflineAudioContext(1, 1, 48000).decodeAudioData(await res.arrayBuffer());
    return encode(decoded.getChannelData(0));
  },

  // envelope decodes an Ogg Opus file and returns its energy per 20 ms window, in dBFS.
  async envelope(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    const decoded = await new OfflineAudioContext(1, 1, 48000).decodeAudioData(await res.arrayBuffer());
    const pcm = decoded.getChannelData(0);
    const out = [];
    for (let i = 0; i + 960 <= pcm.length; i += 960) out.push(Math.round(dbfs(pcm.subarray(i, i + 960)) * 10) / 10);
    return out;
  },

  // analyse decodes an Ogg Opus file and returns its energy per 20 ms
  // window (dBFS, as envelope) and the median pitch (Hz, autocorrelation)
  // of its windows louder than -30 dBFS (0 if none).
  async analyse(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    const decoded = await new OfflineAudioContext(1, 1, 48000).decodeAudioData(await res.arrayBuffer());
    const pcm = decoded.getChannelData(0);
    const envelope = [];
    const pitches = [];
    for (let i = 0; i + 960 <= pcm.length; i += 960) {
      const db = dbfs(pcm.subarray(i, i + 960));
      envelope.push(Math.round(db * 10) / 10);
      if (db > -30 && i + 1920 <= pcm.length) pitches.push(pitch(pcm.subarray(i, i + 1920)));
    }
    pitches.sort((a, b) => a - b);
    return { envelope, pitch: pitches.length ? pitches[pitches.length >> 1] : 0 };
  },

  log() {
    return lines.join('\n');
  },
};
note('page loaded');
