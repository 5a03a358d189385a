// voice.test.js: voice.js's DAVE routing in Node (node --test, run by
// go test ./web), against a fake WebSocket, a fake RTCPeerConnection and a
// fake DaveClient that records what it is told.
import test from 'node:test';
import assert from 'node:assert/strict';
import { VoiceConnection, widenSeq, binaryFrame, vp8PayloadTypes, CAMERA_STREAMS } from './voice.js';

const ME = '100';

class FakeWS {
  static OPEN = 1;
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = FakeWS.OPEN;
    this.sent = [];
    FakeWS.all.push(this);
  }
  send(m) { this.sent.push(m); }
  close(code) { this.readyState = 3; this.closedWith = code; }
  // from the server
  json(op, d, seq) { this.onmessage?.({ data: JSON.stringify(seq === undefined ? { op, d } : { op, d, seq }) }); }
  binary(seq, op, payload = []) { this.onmessage?.({ data: new Uint8Array([seq >> 8, seq & 255, op, ...payload]).buffer }); }
  drop(code = 1006) { this.readyState = 3; this.onclose?.({ code, reason: '' }); }
  jsonSent() { return this.sent.filter((m) => typeof m === 'string').map((m) => JSON.parse(m)); }
}

const OFFER = 'v=0\r\na=ice-ufrag:x\r\na=ice-pwd:y\r\na=fingerprint:sha-256 ' + 'AB:'.repeat(31) + 'AB\r\n';
class FakePC {
  static last = null;
  constructor(cfg) {
    this.cfg = cfg;
    this.ts = [];
    this.iceGatheringState = 'complete';
    this.signalingState = 'stable';
    this.localDescription = null;
    this.currentRemoteDescription = null;
    FakePC.last = this;
  }
  addTransceiver(kind, { direction }) {
    const t = { mid: null, direction, sender: { replaceTrack: async () => {} }, receiver: { track: { clone: () => ({ stop() {} }) } } };
    this.ts.push(t);
    return t;
  }
  getTransceivers() { return this.ts; }
  async createOffer() {
    this.ts.forEach((t, i) => (t.mid = String(i)));
    return { type: 'offer', sdp: OFFER + this.ts.map((t) => `m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:${t.mid}\r\na=rtpmap:111 opus/48000/2\r\n`).join('') };
  }
  async setLocalDescription(d) { this.localDescription = d; this.signalingState = 'have-local-offer'; }
  async setRemoteDescription(d) { this.currentRemoteDescription = d; this.signalingState = 'stable'; }
  addEventListener() {}
  removeEventListener() {}
  close() {}
}

const ANSWER = 'm=audio 50000 ICE/SDP\nc=IN IP4 127.0.0.1\na=ice-ufrag:u\na=ice-pwd:p\na=fingerprint:sha-256 ' + 'CD:'.repeat(31) + 'CD\n';

class FakeDave {
  constructor() { this.calls = []; }
  rtcConfig() { return { encodedInsertableStreams: true }; }
  setMembers(ids) { this.calls.push(['members', [...ids].sort()]); }
  setSSRC(ssrc, user) { this.calls.push(['ssrc', ssrc, user]); }
  forgetSSRC(ssrc) { this.calls.push(['forget', ssrc]); }
  sessionDescription(v) { this.calls.push(['session', v]); }
  handleJSON(op, d) { this.calls.push(['json', op, d]); }
  handleBinary(b) { this.calls.push(['binary', [...b]]); }
  attachSender(s) { this.calls.push(['sender', Boolean(s)]); }
  attachReceiver(r) { this.calls.push(['receiver', Boolean(r)]); }
  take(kind) {
    const out = this.calls.filter((c) => !kind || c[0] === kind);
    this.calls = this.calls.filter((c) => kind && c[0] !== kind);
    return out;
  }
}

globalThis.WebSocket = FakeWS;
globalThis.RTCPeerConnection = FakePC;
globalThis.MediaStream ??= class { constructor(t) { this.tracks = t; } };
const tick = () => new Promise((r) => setTimeout(r, 0));

// connected: a VoiceConnection with dave through Hello, Ready, Select and op 4.
async function connected(dave, version = 1) {
  FakeWS.all = [];
  const vc = new VoiceConnection({ endpoint: 'v.example', serverId: '1', userId: ME, sessionId: 's', token: 't', receivers: 2, videoReceivers: 0, dave });
  const done = vc.connect();
  const ws = FakeWS.all[0];
  ws.json(8, { heartbeat_interval: 60000 });
  ws.json(2, { ssrc: 7, ip: '127.0.0.1', port: 1, modes: [] }, 1);
  await tick();
  await tick();
  ws.json(4, { sdp: ANSWER, dave_protocol_version: version }, 2);
  await done;
  return { vc, ws };
}

test('widenSeq follows voiceclient: low 16 bits replaced, carried on a wrap', () => {
  for (const [last, seq, want] of [[-1, 5, 5], [3, 4, 4], [65535, 0, 65536], [65536 + 10, 11, 65536 + 11],
    [65534, 2, 65538], [200000, 200000 & 0xffff, 200000]]) {
    assert.equal(widenSeq(last, seq), want, `widenSeq(${last}, ${seq})`);
  }
  assert.deepEqual(binaryFrame(new Uint8Array([1, 2, 25, 9])), { seq: 258, op: 25 });
  assert.equal(binaryFrame(new Uint8Array([1, 2])), null);
});

test('without dave: identifies with version 0 and ignores DAVE frames', async () => {
  const { vc, ws } = await connected(undefined, 0);
  assert.equal(ws.jsonSent()[0].d.max_dave_protocol_version, 0);
  ws.binary(3, 25, [1, 2]);
  ws.json(21, { transition_id: 1, protocol_version: 1 }, 4);
  assert.equal(FakePC.last.cfg.encodedInsertableStreams, undefined);
  vc.disconnect();
});

test('with dave: version 1, routing, sending, members, SSRCs, transforms', async () => {
  const dave = new FakeDave();
  const { vc, ws } = await connected(dave);
  const id = ws.jsonSent()[0];
  assert.equal(id.op, 0);
  assert.equal(id.d.max_dave_protocol_version, 1);
  assert.equal(FakePC.last.cfg.encodedInsertableStreams, true, 'the DaveClient RTCConfiguration is merged');
  assert.deepEqual(dave.take('session'), [['session', 1]]);
  assert.deepEqual(dave.take('sender'), [['sender', true]]);
  assert.equal(dave.take('receiver').length, 2, 'both receivers made up front');

  // ops 11/13 keep the members; op 5 the SSRC map
  ws.json(11, { user_ids: ['200', '300'] }, 3);
  assert.deepEqual(dave.take('members'), [['members', ['100', '200', '300']]]);
  ws.json(5, { user_id: '200', ssrc: 20, speaking: 1 }, 4);
  ws.json(5, { user_id: '300', ssrc: 30, speaking: 1 }, 5);
  ws.json(5, { user_id: '400', ssrc: 40, speaking: 1 }, 6);
  assert.deepEqual(dave.take('ssrc'), [['ssrc', 20, '200'], ['ssrc', 30, '300'], ['ssrc', 40, '400']]);
  await tick();
  await tick();
  assert.equal(dave.take('receiver').length, 1, 'a transceiver added later gets the transform');
  ws.json(13, { user_id: '300' }, 7);
  assert.deepEqual(dave.take('members'), [['members', ['100', '200']]]);
  assert.deepEqual(dave.take('forget'), [['forget', 30]]);

  // JSON ops 21, 22, 24 and binary 25, 27, 29, 30 go to dave; others do not
  ws.json(21, { transition_id: 3, protocol_version: 1 }, 8);
  ws.json(22, { transition_id: 3 }, 9);
  ws.json(24, { epoch: 1, protocol_version: 1 }, 10);
  ws.json(6, { t: 1 });
  assert.deepEqual(dave.take('json'), [['json', 21, { transition_id: 3, protocol_version: 1 }], ['json', 22, { transition_id: 3 }], ['json', 24, { epoch: 1, protocol_version: 1 }]]);
  ws.binary(11, 25, [9, 9]);
  ws.binary(12, 27, [0]);
  ws.binary(13, 29, [0, 1, 5]);
  ws.binary(14, 30, [0, 1, 6]);
  ws.binary(15, 99, [1]);
  assert.deepEqual(dave.take('binary').map((c) => c[1][2]), [25, 27, 29, 30]);
  assert.deepEqual(dave.take('binary'), []);

  // what dave sends: JSON and binary
  ws.sent = [];
  assert.equal(dave.send({ op: 23, d: { transition_id: 3 } }), true);
  assert.equal(dave.send(new Uint8Array([26, 1, 2])), true);
  assert.deepEqual(JSON.parse(ws.sent[0]), { op: 23, d: { transition_id: 3 } });
  assert.deepEqual([...ws.sent[1]], [26, 1, 2]);

  // the binary frames' seq counts in seq_ack (a resume after a drop says it)
  ws.drop(1006);
  await tick();
  const ws2 = FakeWS.all.at(-1);
  assert.notEqual(ws2, ws);
  assert.equal(dave.send(new Uint8Array([26])), false, 'nothing goes out before the session is resumed');
  ws2.json(8, { heartbeat_interval: 60000 });
  const resume = ws2.jsonSent().find((m) => m.op === 7);
  assert.equal(resume.d.seq_ack, 15);
  ws2.json(9, null);
  assert.deepEqual(dave.take('session'), [], 'a resume is the same session');

  // a fresh session (4006): members reset to us, and the next op 4 re-inits
  ws2.drop(4006);
  assert.deepEqual(dave.take('members').at(-1), ['members', ['100']]);
  await tick();
  const ws3 = FakeWS.all.at(-1);
  ws3.json(8, { heartbeat_interval: 60000 });
  assert.equal(ws3.jsonSent()[0].op, 0);
  assert.equal(ws3.jsonSent()[0].d.max_dave_protocol_version, 1);
  ws3.json(2, { ssrc: 8, ip: '127.0.0.1', port: 1, modes: [] }, 1);
  await tick();
  await tick();
  ws3.json(4, { sdp: ANSWER, dave_protocol_version: 1 }, 2);
  assert.deepEqual(dave.take('session'), [['session', 1]]);
  vc.disconnect();
});

test('4017 is final', async () => {
  const dave = new FakeDave();
  const { vc, ws } = await connected(dave);
  const closes = [];
  vc.addEventListener('close', (e) => closes.push(e.detail));
  const n = FakeWS.all.length;
  ws.drop(4017);
  await tick();
  assert.deepEqual(closes, [{ code: 4017, reason: '', reconnect: null }]);
  assert.equal(vc.state, 'closed');
  assert.equal(FakeWS.all.length, n, 'no new connection');
});

test('vp8PayloadTypes: VP8 and its RTX from an offer; the camera streams match the rids', () => {
  const sdp = 'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n' +
    'a=rtpmap:98 VP9/90000\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n';
  assert.deepEqual(vp8PayloadTypes(sdp), { pt: 96, rtx: 97 });
  assert.deepEqual(vp8PayloadTypes('a=rtpmap:100 VP8/90000\r\n'), { pt: 100, rtx: 0 });
  assert.equal(vp8PayloadTypes('a=rtpmap:111 opus/48000/2\r\n'), null);
  assert.deepEqual(CAMERA_STREAMS.map((s) => [s.rid, s.quality]), [['50', 50], ['100', 100]]);
});
