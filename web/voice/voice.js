// voice.js: the browser side of Parley's voice protocol, the web dialect
// (shared/docs/webrtc.md §1, voice-protocol.md §2). A plain ES module: no
// build step, no dependencies. It speaks DAVE end-to-end encryption when
// given a DaveClient (/dave/dave.js, option dave): it identifies with
// max_dave_protocol_version 1 and hands DAVE's part of the protocol to it;
// without one, 0 (the server then refuses it with 4017 where DAVE is
// required, or downgrades the room to transport encryption only).
//
//   import { VoiceConnection } from './voice.js';
//   const vc = new VoiceConnection({
//     endpoint: 'voice.example:443',   // host:port[/path] of the voice gateway (wss://endpoint/?v=8;
//                                      // 'page.example/voice' for the web origin's /voice)
//     serverId, userId, sessionId, token, // from VOICE_SERVER_UPDATE / `parley voice-token`;
//                                      // userId a string (a snowflake exceeds a Number)
//     track,                           // the microphone MediaStreamTrack (optional)
//     receivers: 3,                    // recvonly transceivers made up front (more are added locally)
//     video: false,                    // declare a camera (CAMERA_STREAMS) in Identify: setCamera works
//     camera,                          // the camera MediaStreamTrack sent from the start (optional)
//     videoReceivers: 2,               // recvonly video transceivers made up front (more are added locally)
//     rtcConfig: {},                   // extra RTCConfiguration fields (optional)
//     dave,                            // a DaveClient (optional; see DAVE below)
//     gatherTimeout: 2000,             // ms to wait for ICE gathering before sending the offer
//     maxDelay: 5000,                  // ms, the cap of the reconnect backoff (0, 250, 500, 1000 ms...)
//     maxAttempts: 5,                  // gateway connections connect() tries before it rejects
//   });
//   vc.addEventListener('track', (e) => play(e.detail.userId, e.detail.track));
//   await vc.connect();                // resolves once media is negotiated; rejects on a final close,
//                                      // a media setup failure, or after maxAttempts connections
//   vc.setSpeaking(true);              // op 5 with the microphone flag (kept across reconnects)
//   await vc.setMute(true);            // self mute: nothing is sent, speaking off until unmuted
//   await vc.setTrack(otherMic);       // switch input device
//   await vc.stats();                  // {ssrc: {userId, packetsReceived, packetsLost, audioLevel, totalAudioEnergy, jitter}}
//   await vc.setCamera(cameraTrack);   // camera on (two simulcast layers, op 12), or off with null
//   await vc.videoStats();             // {inbound: {ssrc: {userId, framesDecoded, ...}}, outbound: {rid: {framesEncoded, ...}}}
//   vc.disconnect();                   // leave (close 1000: the server ends the session)
//
// The browser must trust the voice gateway's TLS certificate: a certificate
// it refuses looks like an unreachable server (close 1006, nothing more), so
// connect() retries and then rejects. Give the node a real certificate
// (--tls-cert/--tls-key), open https://HOST:PORT once and accept the
// self-signed one, or connect through the page's origin (HOST/voice).
//
// Properties: state ('connecting' | 'connected' | 'reconnecting' | 'closed'),
// ssrc (this session's room SSRC), users (Map userId -> {ssrc, speaking,
// track}), pc (the RTCPeerConnection, or null), muted.
//
// Events (CustomEvent, fields in e.detail):
//   state {state}                      ready {ssrc}
//   connected {}                       media is negotiated (after every fresh session)
//   join {userId}                      leave {userId}
//   speaking {userId, ssrc, speaking}  the server's op 5 (speaking is the flags)
//   track {userId, ssrc, track, stream} a user's audio, once the remote description lists its SSRC:
//                                      track is this user's own (a clone of the receiving
//                                      transceiver's, which carries other users later), stream
//                                      a MediaStream of it (for an audio element's srcObject)
//   trackended {userId, ssrc, track}   that track no longer carries the user; voice.js stops it
//   video {userId, ssrc, track, stream} a user's camera (op 12 said it is on), as track does for audio
//   videoended {userId, ssrc, track}   that camera stopped or its user left
//   close {code, reason, reconnect}    the gateway closed; reconnect is 'resume', 'identify' or null
//                                      (null: closed for good; 1000 'media setup failed' from this side
//                                      when media cannot be set up, after an error event)
//   reconnecting {attempt, resume}     resumed {}          media {state} (connectionState)
//   error {error}
//
// DAVE. With a DaveClient (created by the caller for this user and
// channel, closed by the caller), voice.js: identifies with version 1;
// hands it op 4's dave_protocol_version (sessionDescription, which starts
// afresh: every op 4 of a new session), ops 21, 22 and 24 (handleJSON) and
// every binary frame of ops 25, 27, 29 and 30 (handleBinary; the frame's
// u16 sequence number counts in seq_ack like a JSON seq); sends what it
// asks (dave.send: {op, d} as JSON, a Uint8Array as a binary message);
// keeps its members (setMembers: this user and whoever ops 11/13
// announced) and its SSRC -> user map (setSSRC/forgetSSRC from op 5)
// current; attaches its encoded transforms to the microphone's sender and
// to every receiver (attachSender/attachReceiver, transceivers added later
// included) and merges its RTCConfiguration (rtcConfig()) into the peer
// connection's. Close 4017 (E2EE required, or this client's DAVE refused)
// is final.
//
// Also exported, for tests and tools: offerFragment(sdp), parseAnswer(fragment),
// remoteDescription(answer, sections) (interop/web_voice_sdp_test.go holds
// them to voiceproto's).
//
// How it works. One RTCPeerConnection: one sendrecv transceiver for the
// microphone, a sendonly camera transceiver with two simulcast encodings
// (rids "50" and "100", declared as streams in Identify; the server maps
// the rids onto the SSRCs Ready allocated, voiceproto/webrtc_video.go) and
// pools of recvonly audio and video ones (a user's video SSRC is op 12's
// video_ssrc). The offer goes to the server
// once, as the fragment voiceproto.OfferFragment describes; the server's
// answer fragment (op 4) is expanded into a full remote description exactly
// as voiceproto.Answer.RemoteDescription does: one m-section per
// transceiver, in order, each listing the room SSRCs it receives (the
// microphone's none: the server's side is recvonly; a receiver's one, or
// none and inactive while free). Who an SSRC is comes from op 5 (op 11/13
// say who joins and leaves). When an SSRC needs a transceiver and none is
// free, one is added and the connection renegotiates locally (a new local
// offer, a rebuilt answer): nothing new goes to the server.
//
// Messages of a session go out only once the socket carries it (Ready or
// Resumed on it); a Select Protocol that could not go out (the socket
// dropped while ICE was gathering), or was lost with the connection, is
// sent again on Resumed. A dropped WebSocket, or two heartbeats without an
// ACK (close 4000 from this side), resumes (op 7 with seq_ack), as do codes
// below 4000 and 4015 (as voiceproto.CloseCode.Resumable says); a session
// the server no longer has (any other 4xxx: 4006, 4009, 4021 rate
// limited...), or media that failed (reported as close 4006 'media
// failed'), starts afresh with Identify and a new RTCPeerConnection. Codes
// that a retry cannot fix (4001-4005, 4011, 4012, 4014, 4016, 4017, 4020,
// 4022) close for good.

const OP = { IDENTIFY: 0, SELECT: 1, READY: 2, HEARTBEAT: 3, SESSION: 4, SPEAKING: 5, ACK: 6, RESUME: 7, HELLO: 8, RESUMED: 9, CONNECT: 11, VIDEO: 12, DISCONNECT: 13 };
// DAVE's opcodes (shared/docs/dave.md §3): the JSON ones the server sends,
// and the binary ones (u16 seq, u8 op, payload).
const DAVE_JSON = new Set([21, 22, 24]);
const DAVE_BINARY = new Set([25, 27, 29, 30]);
// Close codes after which retrying cannot help (voice-protocol.md §2.6).
const FINAL = new Set([4001, 4002, 4003, 4004, 4005, 4011, 4012, 4014, 4016, 4017, 4020, 4022]);
// HEARTBEAT_MISSED is this side's close code after two heartbeats without
// an ACK (a half-open connection): the session is still there.
const HEARTBEAT_MISSED = 4000;
// resumable mirrors voiceproto.CloseCode.Resumable: after a code below 4000
// (a network failure, 1001 going away) or 4015 (server crashed) the session
// is still there and is resumed; any other 4xxx code (4006, 4009, 4021 rate
// limited...) ended it: identify again.
function resumable(code) {
  return code < 4000 || code === 4015 || code === HEARTBEAT_MISSED;
}
const MIC = 1; // speaking flag: microphone
const CODEC = 'opus/48000/2';
const VP8 = 'VP8/90000';
// The camera's simulcast layers (voiceproto.CameraStreams): the rid is the
// stream's quality, the percent of full resolution; Identify declares them,
// the browser sends them as rids, the server maps one to the other.
export const CAMERA_STREAMS = [{ type: 'video', rid: '50', quality: 50 }, { type: 'video', rid: '100', quality: 100 }];
const CAMERA_ENCODINGS = [{ rid: '50', scaleResolutionDownBy: 2 }, { rid: '100' }];
const EXT_MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';
const EXT_RID = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';
const EXT_RRID = 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id';
const EXT_TWCC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
const CANDIDATE_PRIORITY = 4261412862;

/**
 * widenSeq is the gateway sequence number after a binary frame's u16 seq,
 * given the last one seen (-1 for none): its low 16 bits replaced, carried
 * into the next 65536 when it wrapped (as voiceclient.handleBinary does).
 */
export function widenSeq(last, seq) {
  const base = Math.max(last, 0);
  let s = base - (base % 65536) + (seq & 0xffff);
  if (s < last - 32768) s += 65536;
  return s;
}

/** binaryFrame reads a server binary frame's header: {seq, op}, or null when it is too short. */
export function binaryFrame(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length < 3) return null;
  return { seq: (bytes[0] << 8) | bytes[1], op: bytes[2] };
}

/** offerFragment reduces a full SDP offer to what op 1 carries (voiceproto.OfferFragment). */
export function offerFragment(sdp) {
  const keep = ['a=extmap-allow-mixed', 'a=ice-', 'a=fingerprint:', 'a=extmap:', 'a=rtpmap:'];
  const seen = new Set();
  let out = '';
  for (let l of sdp.replaceAll('\r\n', '\n').split('\n')) {
    l = l.trim();
    if (keep.some((p) => l.startsWith(p)) && !seen.has(l)) {
      seen.add(l);
      out += l + '\n';
    }
  }
  return out;
}

/** parseAnswer reads the server's answer fragment (voiceproto.ParseAnswer). */
export function parseAnswer(s) {
  const a = {};
  for (let l of s.replaceAll('\r\n', '\n').split('\n')) {
    l = l.trim();
    if (l.startsWith('m=audio ')) a.port = Number(l.split(/\s+/)[1]);
    else if (l.startsWith('c=IN IP4 ')) a.ip = l.slice(9);
    else if (l.startsWith('a=ice-ufrag:')) a.iceUfrag = l.slice(12);
    else if (l.startsWith('a=ice-pwd:')) a.icePwd = l.slice(10);
    else if (l.startsWith('a=fingerprint:')) a.fingerprint = fingerprint(l.slice(14));
  }
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(a.ip ?? '') || !(a.port >= 1 && a.port <= 65535) || !a.iceUfrag || !a.icePwd || !a.fingerprint) {
    throw new Error('voice: answer lacks the address, ICE credentials or fingerprint');
  }
  return a;
}

// fingerprint normalises "sha-256 ab:cd:…" as Go prints it back.
function fingerprint(v) {
  const [alg, hex = ''] = v.trim().split(/\s+/);
  const raw = hex.replaceAll(':', '').toUpperCase();
  if (alg.toLowerCase() !== 'sha-256' || !/^[0-9A-F]{64}$/.test(raw)) throw new Error(`voice: fingerprint ${v.slice(0, 40)}`);
  return 'sha-256 ' + raw.match(/../g).join(':');
}

/**
 * remoteDescription builds the full SDP answer from a parsed answer fragment
 * and sections [{mid, kind, direction, payloadType, codec, ssrcs, feedback?,
 * extmaps? [{id, uri}], rtxPayloadType?, rids?}], byte for byte as
 * voiceproto.Answer.RemoteDescription does.
 */
export function remoteDescription(a, sections) {
  const { ip, port } = a;
  let b = `v=0\r\no=- 1 2 IN IP4 ${ip}\r\ns=-\r\nt=0 0\r\n`;
  b += 'a=group:BUNDLE' + sections.map((s) => ' ' + s.mid).join('') + '\r\na=ice-lite\r\na=msid-semantic: WMS *\r\n';
  sections.forEach((s, i) => {
    const pt = s.payloadType, rtx = s.rtxPayloadType > 0 ? s.rtxPayloadType : 0, rids = s.rids ?? [];
    b += `m=${s.kind} ${port} UDP/TLS/RTP/SAVPF ${pt}${rtx ? ' ' + rtx : ''}\r\nc=IN IP4 ${ip}\r\na=rtcp:${port}\r\n`;
    b += `a=ice-ufrag:${a.iceUfrag}\r\na=ice-pwd:${a.icePwd}\r\n`;
    b += `a=fingerprint:${a.fingerprint}\r\na=setup:passive\r\n`;
    b += `a=mid:${s.mid}\r\na=${s.direction}\r\na=rtcp-mux\r\na=rtpmap:${pt} ${s.codec}\r\n`;
    for (const fb of s.feedback ?? []) b += `a=rtcp-fb:${pt} ${fb}\r\n`;
    if (rtx) b += `a=rtpmap:${rtx} rtx/90000\r\na=fmtp:${rtx} apt=${pt}\r\n`;
    for (const e of s.extmaps ?? []) b += `a=extmap:${e.id} ${e.uri}\r\n`;
    for (const r of rids) b += `a=rid:${r} recv\r\n`;
    if (rids.length) b += `a=simulcast:recv ${rids.join(';')}\r\n`;
    for (const id of s.ssrcs) b += `a=ssrc:${id} cname:${id}\r\na=ssrc:${id} msid:${id} ${id}\r\n`;
    if (i === 0) b += `a=candidate:1 1 UDP ${CANDIDATE_PRIORITY} ${ip} ${port} typ host\r\na=end-of-candidates\r\n`;
  });
  return b;
}

// direction is the server's side of a transceiver (RemoteSection.Direction).
function direction(clientSends, serverSends) {
  if (clientSends) return serverSends ? 'sendrecv' : 'recvonly';
  return serverSends ? 'sendonly' : 'inactive';
}

// mids lists the a=mid values of an SDP's m-sections, in order.
function mids(sdp) {
  return [...sdp.matchAll(/^a=mid:(\S+)/gm)].map((m) => m[1]);
}

function opusPayloadType(sdp) {
  const m = sdp.match(/^a=rtpmap:(\d+) opus\/48000/im);
  if (!m) throw new Error('voice: the offer has no Opus');
  return Number(m[1]);
}

// vp8PayloadTypes reads the offer's VP8 payload type and its RTX's: {pt, rtx}, or null.
export function vp8PayloadTypes(sdp) {
  const m = sdp.match(/^a=rtpmap:(\d+) VP8\/90000/im);
  if (!m) return null;
  const pt = Number(m[1]);
  const r = sdp.match(new RegExp(`^a=fmtp:(\\d+) apt=${pt}\\s*$`, 'm'));
  return { pt, rtx: r ? Number(r[1]) : 0 };
}

// extmapIds reads the offer's header extension ids by URI.
function extmapIds(sdp) {
  const out = new Map();
  for (const m of sdp.matchAll(/^a=extmap:(\d+)(?:\/\w+)? (\S+)/gm)) if (!out.has(m[2])) out.set(m[2], Number(m[1]));
  return out;
}

function gathered(pc, ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => pc.iceGatheringState === 'complete' && done();
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
    check();
  });
}

export class VoiceConnection extends EventTarget {
  #o; #ws = null; #seq = -1; #hb = null; #acked = true; #missed = 0;
  #session = false; // a session exists on the server (Ready or Resumed seen)
  #ready = false; // this socket carries the session (Ready or Resumed on it)
  #attempt = 0; #timer = null; #gen = 0;
  #tries = 0; // gateway connections opened for the pending connect()
  #answer = null; #pt = 111; #mic = null;
  #pool = []; // receivers: {t (transceiver), kind ('audio' | 'video'), ssrc, user, applied (the SSRC the remote description lists), track (handed out)}
  #cam = null; // the camera's sendonly transceiver (option video)
  #vp8 = null; // {pt, rtx} of the offer
  #exts = new Map(); // the offer's header extension ids by URI
  #streams = []; // this session's video streams as Ready allocated them
  #select = null; // this peer connection's Select Protocol (sent again on Resumed while no answer came)
  #busy = false; #dirty = false; #connect = null;
  #speaking = false; // wanted by the app
  #said = null; // the speaking flags last sent in this session
  #said12 = null; // the camera state (on) last sent in op 12 in this session
  #dave = null; // the DaveClient, or null
  #announced = new Set(); // users ops 11/13 say are in the call (DAVE's members, with this user)

  constructor(opts) {
    super();
    if (typeof opts?.userId !== 'string') throw new TypeError('voice: userId must be a string (a snowflake exceeds a Number)');
    this.#o = { receivers: 3, videoReceivers: 2, video: false, camera: null, gatherTimeout: 2000, maxDelay: 5000, maxAttempts: 5, rtcConfig: {}, ...opts };
    if (opts.dave) {
      this.#dave = opts.dave;
      this.#dave.send = (msg) => this.#daveSend(msg);
    }
    this.state = 'closed';
    this.ssrc = 0;
    this.users = new Map();
    this.pc = null;
    this.muted = false;
  }

  /** endpoint is where the gateway is opened: wss://ENDPOINT/?v=8. */
  get endpoint() { return this.#o.endpoint; }

  /** dave is the DaveClient this connection speaks DAVE with, or null. */
  get dave() { return this.#dave; }

  /**
   * connect opens the gateway; it resolves once media is negotiated. It
   * rejects (and the state is 'closed') on a final close, when media cannot
   * be set up, or after maxAttempts gateway connections without media.
   */
  connect() {
    if (this.state !== 'closed') throw new Error('voice: already connected');
    const settled = new Promise((resolve, reject) => (this.#connect = { resolve, reject }));
    this.#tries = 0;
    this.#setState('connecting');
    this.#open(false);
    return settled;
  }

  /** disconnect leaves: the gateway closes with 1000 and the session ends. */
  disconnect() {
    const ws = this.#ws;
    this.#detach();
    ws?.close(1000);
    this.#end(new Error('voice: disconnected'));
  }

  setSpeaking(on) {
    this.#speaking = Boolean(on);
    this.#saySpeaking();
  }

  async setMute(muted) {
    this.muted = Boolean(muted);
    this.#saySpeaking();
    await this.#mic?.sender.replaceTrack(this.muted ? null : this.#o.track ?? null);
  }

  // saySpeaking sends op 5 when the flags differ from what the server has
  // (once media is up; again after a resume if they changed meanwhile).
  #saySpeaking() {
    const flags = this.#speaking && !this.muted ? MIC : 0;
    if (!this.ssrc || !this.pc?.currentRemoteDescription || flags === (this.#said ?? 0)) return;
    if (this.#send(OP.SPEAKING, { speaking: flags, delay: 0, ssrc: this.ssrc })) this.#said = flags;
  }

  async setTrack(track) {
    this.#o.track = track;
    if (!this.muted) await this.#mic?.sender.replaceTrack(track ?? null);
  }

  /**
   * setCamera sends track (a camera MediaStreamTrack) as this user's video,
   * two simulcast layers, or stops sending with null; op 12 tells the others
   * (needs option video: Identify declared the streams).
   */
  async setCamera(track) {
    if (!this.#o.video) throw new Error('voice: setCamera needs the video option');
    this.#o.camera = track ?? null;
    await this.#cam?.sender.replaceTrack(this.#o.camera);
    this.#said12 = null;
    this.#sayVideo();
  }

  /** camera is the track sent as this user's video, or null. */
  get camera() { return this.#o.camera; }

  // sayVideo sends op 12 when the camera's state differs from what the server has.
  #sayVideo() {
    const on = Boolean(this.#o.camera);
    if (!this.#o.video || !this.#streams.length || !this.pc?.currentRemoteDescription || this.#said12 === on) return;
    const first = this.#streams[0];
    const d = { audio_ssrc: this.ssrc, video_ssrc: on ? first.ssrc : 0, rtx_ssrc: on ? first.rtx_ssrc : 0,
      streams: this.#streams.map((s) => ({ type: s.type, rid: s.rid, quality: s.quality, ssrc: s.ssrc, rtx_ssrc: s.rtx_ssrc, active: on })) };
    if (this.#send(OP.VIDEO, d)) this.#said12 = on;
  }

  /**
   * videoStats reports video: inbound by remote SSRC {userId, framesDecoded,
   * framesReceived, frameWidth, frameHeight, keyFramesDecoded}, outbound by rid
   * {framesEncoded, frameWidth, frameHeight, keyFramesEncoded}.
   */
  async videoStats() {
    const out = { inbound: {}, outbound: {} };
    const report = this.pc ? await this.pc.getStats() : new Map();
    report.forEach((s) => {
      if (s.kind !== 'video') return;
      if (s.type === 'inbound-rtp') {
        const e = this.#pool.find((p) => p.kind === 'video' && p.applied === s.ssrc);
        out.inbound[s.ssrc] = { userId: e?.user ?? null, framesDecoded: s.framesDecoded ?? 0, framesReceived: s.framesReceived ?? 0,
          keyFramesDecoded: s.keyFramesDecoded ?? 0, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0, packetsLost: s.packetsLost ?? 0 };
      } else if (s.type === 'outbound-rtp') {
        out.outbound[s.rid ?? String(s.ssrc)] = { ssrc: s.ssrc, framesEncoded: s.framesEncoded ?? 0, keyFramesEncoded: s.keyFramesEncoded ?? 0,
          frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0, active: s.active, qualityLimitationReason: s.qualityLimitationReason };
      }
    });
    return out;
  }

  /** stats reports inbound audio by remote SSRC (getStats inbound-rtp). */
  async stats() {
    const out = {};
    const report = this.pc ? await this.pc.getStats() : new Map();
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      const e = this.#pool.find((p) => p.kind === 'audio' && p.applied === s.ssrc);
      out[s.ssrc] = { userId: e?.user ?? null, packetsReceived: s.packetsReceived, packetsLost: s.packetsLost,
        audioLevel: s.audioLevel, totalAudioEnergy: s.totalAudioEnergy, jitter: s.jitter };
    });
    return out;
  }

  #emit(type, detail = {}) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  #setState(s) {
    if (this.state !== s) this.#emit('state', { state: (this.state = s) });
  }

  // The gateway.

  #open(resume) {
    if (this.#connect) this.#tries++;
    let ws;
    try {
      ws = new WebSocket(`wss://${this.#o.endpoint}/?v=8`);
    } catch (error) { // a malformed endpoint: no retry can fix it
      this.#emit('error', { error });
      return this.#end(Object.assign(new Error(`voice: cannot open wss://${this.#o.endpoint}: ${error.message}`), { cause: error }));
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#ready = false;
    ws.onmessage = (e) => {
      if (this.#ws !== ws) return;
      try {
        if (typeof e.data === 'string') this.#handle(JSON.parse(e.data), resume);
        else this.#binary(new Uint8Array(e.data));
      } catch (error) {
        this.#emit('error', { error });
      }
    };
    ws.onclose = (e) => this.#ws === ws && this.#closed(e.code, e.reason);
  }

  // send sends a message if the socket is open and, except for what
  // opens a session, carries one (the server closes 4003 otherwise).
  #send(op, d) {
    const opening = op === OP.IDENTIFY || op === OP.RESUME || op === OP.HEARTBEAT;
    if (this.#ws?.readyState !== WebSocket.OPEN || !(opening || this.#ready)) return false;
    this.#ws.send(JSON.stringify({ op, d }));
    return true;
  }

  // binary handles a server binary frame (DAVE's ops 25, 27, 29, 30):
  // its sequence number counts in seq_ack.
  #binary(bytes) {
    const f = binaryFrame(bytes);
    if (!f) throw new Error(`voice: a binary frame of ${bytes.length} bytes`);
    this.#seq = widenSeq(this.#seq, f.seq);
    if (this.#dave && DAVE_BINARY.has(f.op)) this.#dave.handleBinary(bytes);
  }

  // daveSend sends what the DaveClient asks: {op, d} as JSON (23, 31), a
  // Uint8Array (u8 op + payload: 26, 28) as a binary message. Only on a
  // socket that carries the session; it says whether it went out.
  #daveSend(msg) {
    if (!(msg instanceof Uint8Array)) return this.#send(msg.op, msg.d);
    if (this.#ws?.readyState !== WebSocket.OPEN || !this.#ready) return false;
    this.#ws.send(msg);
    return true;
  }

  // daveMembers tells the DaveClient who is in the call.
  #daveMembers() {
    this.#dave?.setMembers([this.#o.userId, ...this.#announced]);
  }

  #handle(m, resume) {
    if (typeof m.seq === 'number') this.#seq = m.seq;
    const d = m.d ?? {};
    const o = this.#o;
    switch (m.op) {
      case OP.HELLO:
        this.#heartbeat(d.heartbeat_interval);
        if (resume) this.#send(OP.RESUME, { server_id: o.serverId, session_id: o.sessionId, token: o.token, seq_ack: this.#seq });
        else this.#send(OP.IDENTIFY, { server_id: o.serverId, user_id: o.userId, session_id: o.sessionId, token: o.token, max_dave_protocol_version: this.#dave ? 1 : 0,
          ...(o.video ? { streams: CAMERA_STREAMS } : {}) });
        break;
      case OP.ACK:
        this.#acked = true;
        this.#missed = 0;
        break;
      case OP.READY:
        this.#session = this.#ready = true;
        this.#attempt = 0;
        this.ssrc = d.ssrc;
        this.#streams = Array.isArray(d.streams) ? d.streams : [];
        this.#emit('ready', { ssrc: d.ssrc, streams: this.#streams });
        this.#startMedia();
        break;
      case OP.RESUMED:
        this.#session = this.#ready = true;
        this.#attempt = 0;
        if (this.#answer) this.#setState('connected');
        // A Select Protocol not sent (the socket dropped while ICE was
        // gathering) or lost with the old connection: its answer would have
        // been replayed before Resumed.
        else if (this.pc && this.#select) this.#send(OP.SELECT, this.#select);
        this.#emit('resumed');
        this.#saySpeaking();
        this.#sayVideo();
        break;
      case OP.SESSION: {
        // DAVE first: the version decides what the transforms do with the
        // first frames.
        this.#dave?.sessionDescription(Math.min(Math.max(Number(d.dave_protocol_version) || 0, 0), 1));
        let answer;
        try {
          answer = parseAnswer(d.sdp ?? '');
        } catch (error) {
          return this.#fail(error);
        }
        this.#answer = answer;
        this.#renegotiate();
        break;
      }
      case OP.SPEAKING:
        this.#speakingOf(String(d.user_id), d.ssrc >>> 0, d.speaking);
        break;
      case OP.VIDEO:
        this.#videoOf(String(d.user_id), d);
        break;
      case OP.CONNECT:
        for (const id of d.user_ids ?? []) {
          if (String(id) === o.userId) continue;
          this.#announced.add(String(id));
          this.#user(String(id));
        }
        this.#daveMembers();
        break;
      case OP.DISCONNECT:
        this.#announced.delete(String(d.user_id));
        this.#daveMembers();
        this.#leave(String(d.user_id));
        break;
      default:
        if (this.#dave && DAVE_JSON.has(m.op)) this.#dave.handleJSON(m.op, d);
    }
  }

  #heartbeat(interval) {
    clearInterval(this.#hb);
    this.#acked = true;
    this.#missed = 0;
    this.#hb = setInterval(() => { // the first after one interval, as @discordjs/voice does
      if (!this.#acked && ++this.#missed >= 2) return this.#drop(HEARTBEAT_MISSED, 'heartbeat not acknowledged');
      this.#acked = false;
      this.#send(OP.HEARTBEAT, { t: Date.now(), seq_ack: this.#seq });
    }, Math.max(interval || 0, 1000));
  }

  // detach forgets the socket: its late events are ignored.
  #detach() {
    clearInterval(this.#hb);
    clearTimeout(this.#timer);
    if (this.#ws) this.#ws.onmessage = this.#ws.onclose = null;
    this.#ws = null;
  }

  // drop closes the socket from this side and goes on as if the server had.
  #drop(code, reason) {
    const ws = this.#ws;
    this.#detach();
    try { ws?.close(code, reason); } catch {}
    this.#closed(code, reason);
  }

  #closed(code, reason) {
    this.#detach();
    let reconnect = FINAL.has(code) ? null : this.#session && resumable(code) ? 'resume' : 'identify';
    let error = Object.assign(new Error(`voice: closed ${code} ${reason}`), { code });
    if (reconnect && this.#connect && this.#tries >= this.#o.maxAttempts) {
      // The first connect gives up: an unreachable endpoint, or (1006 too,
      // all a browser reports) a certificate it does not trust.
      reconnect = null;
      const hint = code === 1006 ? ' (unreachable, or a TLS certificate this browser does not trust)' : '';
      error = Object.assign(new Error(`voice: no media after ${this.#tries} attempts; the last closed ${code}${reason ? ' ' + reason : ''}${hint}`), { code });
    }
    this.#emit('close', { code, reason, reconnect });
    if (!reconnect) return this.#end(error);
    if (reconnect === 'identify') this.#resetMedia();
    this.#setState('reconnecting');
    const attempt = ++this.#attempt;
    const delay = attempt === 1 ? 0 : Math.min(250 * 2 ** (attempt - 2), this.#o.maxDelay);
    this.#emit('reconnecting', { attempt, resume: reconnect === 'resume' });
    this.#timer = setTimeout(() => this.#open(reconnect === 'resume'), delay);
  }

  // fail ends the connection for good when media cannot be set up in a way
  // a retry would not fix (no RTCPeerConnection, an answer that does not
  // parse, a remote description the browser refuses): the gateway closes
  // with 1000 (the server ends the session), 'close' says why, a pending
  // connect() rejects.
  #fail(error) {
    this.#emit('error', { error });
    const ws = this.#ws;
    this.#detach();
    const reason = 'media setup failed';
    try { ws?.close(1000, reason); } catch {}
    this.#emit('close', { code: 1000, reason, reconnect: null });
    this.#end(Object.assign(new Error(`voice: ${reason}: ${error?.message ?? error}`), { code: 1000, cause: error }));
  }

  // end closes for good: no reconnect is pending, media is closed, and a
  // pending connect() rejects with error.
  #end(error) {
    this.#detach();
    this.#resetMedia();
    this.#setState('closed');
    this.#connect?.reject(error);
    this.#connect = null;
  }

  // Users and their SSRCs. A user has an audio SSRC (op 5) and a video
  // SSRC (op 12's video_ssrc, 0 while its camera is off); each is placed
  // on a receiving transceiver of its kind.

  #user(id) {
    let u = this.users.get(id);
    if (!u) {
      this.users.set(id, (u = { ssrc: 0, speaking: 0, track: null, videoSsrc: 0, videoTrack: null }));
      this.#emit('join', { userId: id });
    }
    return u;
  }

  #speakingOf(id, ssrc, speaking) {
    if (!ssrc || id === this.#o.userId) return;
    const u = this.#user(id);
    u.speaking = speaking;
    if (u.ssrc !== ssrc) {
      for (const [other, v] of this.users) if (other !== id && v.ssrc === ssrc) this.#release(other, v, 'audio');
      this.#release(id, u, 'audio');
      u.ssrc = ssrc;
      this.#dave?.setSSRC(ssrc, id);
      this.#renegotiate();
    }
    this.#emit('speaking', { userId: id, ssrc, speaking });
  }

  // videoOf handles op 12: the user's camera is on (a video_ssrc with an
  // active stream) or off.
  #videoOf(id, d) {
    if (id === this.#o.userId) return;
    const on = (d.video_ssrc >>> 0) !== 0 && (d.streams ?? []).some((s) => s.active);
    const ssrc = on ? d.video_ssrc >>> 0 : 0;
    const u = this.#user(id);
    if (u.videoSsrc === ssrc) return;
    this.#release(id, u, 'video');
    u.videoSsrc = ssrc;
    if (ssrc) this.#dave?.setSSRC(ssrc, id);
    this.#renegotiate();
  }

  #leave(id) {
    const u = this.users.get(id);
    if (!u) return;
    this.#release(id, u, 'audio');
    this.#release(id, u, 'video');
    this.users.delete(id);
    this.#emit('leave', { userId: id });
    this.#renegotiate();
  }

  // release takes the user's SSRC of kind off its transceiver, which is free again.
  #release(id, u, kind) {
    const e = this.#pool.find((p) => p.user === id && p.kind === kind);
    if (e) {
      if (e.applied) this.#ended(e, id);
      Object.assign(e, { ssrc: 0, user: null, applied: 0 });
    }
    if (kind === 'audio') {
      if (u.ssrc) this.#dave?.forgetSSRC(u.ssrc);
      u.ssrc = 0;
      u.track = null;
    } else {
      if (u.videoSsrc) this.#dave?.forgetSSRC(u.videoSsrc);
      u.videoSsrc = 0;
      u.videoTrack = null;
    }
  }

  // ended tells the app that a receiver no longer carries userId and stops
  // the track it handed out for that user.
  #ended(e, userId) {
    const track = e.track;
    this.#emit(e.kind === 'video' ? 'videoended' : 'trackended', { userId, ssrc: e.applied, track });
    track?.stop();
    e.track = null;
    const u = this.users.get(userId);
    if (u?.track === track) u.track = null;
    if (u?.videoTrack === track) u.videoTrack = null;
  }

  // Media.

  async #startMedia() {
    this.#resetMedia(true);
    const gen = this.#gen;
    try {
      const pc = (this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', ...this.#o.rtcConfig, ...this.#daveRTCConfig() }));
      pc.onconnectionstatechange = () => {
        if (this.pc !== pc) return;
        this.#emit('media', { state: pc.connectionState });
        if (pc.connectionState === 'failed') this.#drop(4006, 'media failed'); // start afresh
      };
      this.#mic = pc.addTransceiver('audio', { direction: 'sendrecv' });
      this.#dave?.attachSender(this.#mic.sender, 'audio');
      if (!this.muted && this.#o.track) await this.#mic.sender.replaceTrack(this.#o.track);
      if (this.#o.video && this.#streams.length) {
        this.#cam = pc.addTransceiver('video', { direction: 'sendonly', sendEncodings: CAMERA_ENCODINGS.map((e) => ({ ...e })) });
        this.#dave?.attachSender(this.#cam.sender, 'video');
        if (this.#o.camera) await this.#cam.sender.replaceTrack(this.#o.camera);
      }
      for (let i = 0; i < this.#o.receivers; i++) this.#pool.push({ t: this.#receiver(pc, 'audio'), kind: 'audio' });
      for (let i = 0; i < this.#o.videoReceivers; i++) this.#pool.push({ t: this.#receiver(pc, 'video'), kind: 'video' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, this.#o.gatherTimeout);
      if (gen !== this.#gen) return;
      const sdp = pc.localDescription.sdp;
      this.#pt = opusPayloadType(sdp);
      this.#vp8 = vp8PayloadTypes(sdp);
      this.#exts = extmapIds(sdp);
      const frag = offerFragment(sdp);
      const codecs = [{ name: 'opus', type: 'audio', priority: 1000, payload_type: this.#pt }];
      if (this.#vp8) codecs.push({ name: 'VP8', type: 'video', priority: 2000, payload_type: this.#vp8.pt, rtx_payload_type: this.#vp8.rtx });
      this.#select = { protocol: 'webrtc', data: frag, sdp: frag, rtc_connection_id: crypto.randomUUID(), codecs };
      this.#send(OP.SELECT, this.#select); // else on Resumed
    } catch (error) {
      if (gen === this.#gen) this.#fail(error);
    }
  }

  // receiver adds a recvonly transceiver of kind, with DAVE's transform on it.
  #receiver(pc, kind) {
    const t = pc.addTransceiver(kind, { direction: 'recvonly' });
    this.#dave?.attachReceiver(t.receiver);
    return t;
  }

  // daveRTCConfig is what the DaveClient needs of the RTCConfiguration
  // (encodedInsertableStreams for createEncodedStreams).
  #daveRTCConfig() {
    const d = this.#dave;
    if (!d) return {};
    return (typeof d.rtcConfig === 'function' ? d.rtcConfig() : d.constructor?.rtcConfig?.(d.transform)) ?? {};
  }

  // resetMedia closes the peer connection; a fresh session re-learns its users.
  #resetMedia(keepUsers = false) {
    this.#gen++;
    for (const e of this.#pool) if (e.applied && e.user) this.#ended(e, e.user);
    this.pc?.close();
    this.pc = this.#mic = this.#cam = this.#answer = this.#select = null;
    this.#pool = [];
    this.#busy = this.#dirty = false;
    this.#said12 = null;
    if (keepUsers) return;
    this.ssrc = 0;
    this.#seq = -1;
    this.#session = false;
    this.#said = null;
    this.#streams = [];
    for (const u of this.users.values()) {
      if (u.ssrc) this.#dave?.forgetSSRC(u.ssrc);
      if (u.videoSsrc) this.#dave?.forgetSSRC(u.videoSsrc);
    }
    this.#announced.clear();
    this.#daveMembers();
    for (const id of [...this.users.keys()]) {
      this.users.delete(id);
      this.#emit('leave', { userId: id });
    }
  }

  // renegotiate brings the remote description up to date with the users'
  // SSRCs, locally; calls coalesce while one runs.
  async #renegotiate() {
    this.#dirty = true;
    if (this.#busy || !this.#answer || !this.pc) return;
    this.#busy = true;
    const pc = this.pc, gen = this.#gen;
    try {
      while (this.#dirty && gen === this.#gen) {
        this.#dirty = false;
        if (pc.signalingState === 'stable') await pc.setLocalDescription(await pc.createOffer());
        if (gen !== this.#gen) return;
        const order = mids(pc.localDescription.sdp);
        this.#assign(order);
        const first = !pc.currentRemoteDescription;
        const placed = order.map((mid) => this.#pool.find((p) => p.t.mid === mid)).filter(Boolean).map((e) => ({ e, ssrc: e.ssrc, user: e.user }));
        await pc.setRemoteDescription({ type: 'answer', sdp: this.#remote(order) });
        if (gen !== this.#gen) return;
        this.#applied(placed);
        if (first) {
          this.#saySpeaking();
          this.#sayVideo();
          this.#setState('connected');
          this.#emit('connected');
          this.#connect?.resolve();
          this.#connect = null;
        }
      }
    } catch (error) {
      if (gen !== this.#gen) return;
      if (!pc.currentRemoteDescription) this.#fail(error); // the first answer: media never came up
      else this.#emit('error', { error });
    } finally {
      if (gen === this.#gen) this.#busy = false;
    }
  }

  // assign puts each unplaced SSRC on a free transceiver of its kind in the
  // current offer; when none is left it adds one, placed in the next round.
  #assign(order) {
    for (const kind of ['audio', 'video']) {
      if (kind === 'video' && !this.#vp8) continue; // no VP8 offered: no video to receive
      let spare = this.#pool.filter((p) => p.kind === kind && !p.user && !order.includes(p.t.mid)).length; // added, not offered yet
      for (const [id, u] of this.users) {
        const ssrc = kind === 'audio' ? u.ssrc : u.videoSsrc;
        if (!ssrc || this.#pool.some((p) => p.user === id && p.kind === kind)) continue;
        const free = this.#pool.find((p) => p.kind === kind && !p.user && order.includes(p.t.mid));
        if (free) {
          Object.assign(free, { ssrc, user: id });
          continue;
        }
        this.#dirty = true;
        if (spare > 0) spare--;
        else this.#pool.push({ t: this.#receiver(this.pc, kind), kind });
      }
    }
  }

  #remote(order) {
    const vp8 = this.#vp8 ?? { pt: 96, rtx: 0 };
    const ext = (uri) => (this.#exts.has(uri) ? [{ id: this.#exts.get(uri), uri }] : []);
    const sections = order.map((mid) => {
      if (this.#cam?.mid === mid) {
        return { mid, kind: 'video', direction: 'recvonly', payloadType: vp8.pt, rtxPayloadType: vp8.rtx, codec: VP8, ssrcs: [],
          feedback: ['nack', 'nack pli', 'ccm fir', 'transport-cc'], extmaps: [...ext(EXT_MID), ...ext(EXT_RID), ...ext(EXT_RRID), ...ext(EXT_TWCC)],
          rids: CAMERA_STREAMS.map((s) => s.rid) };
      }
      const e = this.#pool.find((p) => p.t.mid === mid);
      const ssrcs = e?.ssrc ? [e.ssrc] : [];
      if (e?.kind === 'video') {
        return { mid, kind: 'video', direction: direction(false, ssrcs.length > 0), payloadType: vp8.pt, codec: VP8, ssrcs,
          feedback: ['nack', 'nack pli', 'ccm fir'] };
      }
      const sends = this.#mic?.mid === mid;
      return { mid, kind: 'audio', direction: direction(sends, ssrcs.length > 0), payloadType: this.#pt, codec: CODEC, ssrcs };
    });
    return remoteDescription(this.#answer, sections);
  }

  // applied records what the remote description now says (placed: the
  // receivers as it was built) and announces the new tracks still current.
  #applied(placed) {
    for (const { e, ssrc, user } of placed) {
      if (e.ssrc !== ssrc || e.user !== user || e.applied === ssrc) continue; // changed meanwhile: the next round
      e.applied = ssrc;
      if (!ssrc) continue;
      const u = this.users.get(user);
      // The receiver's own track outlives this user (the transceiver is
      // reused): the app gets a clone, which it may stop.
      const track = (e.track = e.t.receiver.track.clone());
      if (e.kind === 'video') {
        if (u) u.videoTrack = track;
        this.#emit('video', { userId: user, ssrc, track, stream: new MediaStream([track]) });
        continue;
      }
      if (u) u.track = track;
      this.#emit('track', { userId: user, ssrc, track, stream: new MediaStream([track]) });
    }
  }
}
