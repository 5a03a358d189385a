import test from 'node:test';
import assert from 'node:assert/strict';
import { Gateway, OP, backoff, closeAction, CLIENT_INTENTS } from './gateway.js';

// A fake WebSocket and fake timers: the test moves time by hand.
function harness() {
  const sockets = [];
  class FakeSocket {
    constructor(url) { this.url = url; this.readyState = 1; this.sent = []; this.closed = null; sockets.push(this); }
    send(s) { this.sent.push(JSON.parse(s)); }
    close(code) { this.closed = code; this.readyState = 3; }
    recv(m) { this.onmessage?.({ data: JSON.stringify(m) }); }
    drop(code) { this.readyState = 3; this.onclose?.({ code, reason: '' }); }
  }
  let now = 0;
  let id = 0;
  const timers = new Map();
  const t = {
    setTimeout: (f, ms) => (timers.set(++id, { f, at: now + ms }), id),
    clearTimeout: (i) => timers.delete(i),
    setInterval: (f, ms) => (timers.set(++id, { f, at: now + ms, every: ms }), id),
    clearInterval: (i) => timers.delete(i),
  };
  const advance = (ms) => {
    const end = now + ms;
    for (;;) {
      const due = [...timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      const [i, x] = due;
      now = x.at;
      if (x.every) x.at += x.every;
      else timers.delete(i);
      x.f();
    }
    now = end;
  };
  const gw = new Gateway({ url: 'wss://h/gateway?v=10&encoding=json', token: 'tok', WebSocket: FakeSocket, timers: t, random: () => 0.5 });
  const events = [];
  for (const type of ['state', 'dispatch', 'fatal', 'close']) gw.addEventListener(type, (e) => events.push({ type, ...e.detail }));
  return { gw, sockets, advance, events, last: () => sockets[sockets.length - 1] };
}

function readyUp(h) {
  h.gw.connect();
  const ws = h.last();
  ws.recv({ op: OP.HELLO, d: { heartbeat_interval: 1000 } });
  ws.recv({ op: OP.DISPATCH, t: 'READY', s: 1, d: { session_id: 'sess', resume_gateway_url: 'wss://resume.example/', user: { id: '1' } } });
  return ws;
}

test('identify with the client intents, then heartbeats with jitter', () => {
  const h = harness();
  const ws = readyUp(h);
  assert.deepEqual(ws.sent[0], { op: OP.IDENTIFY, d: { token: 'tok', intents: CLIENT_INTENTS, properties: { os: 'web', browser: 'parley-web', device: 'parley-web' } } });
  assert.equal(h.gw.state, 'connected');
  h.advance(499);
  assert.equal(ws.sent.length, 1, 'the first heartbeat waits interval * random');
  h.advance(1);
  assert.deepEqual(ws.sent[1], { op: OP.HEARTBEAT, d: 1 });
  ws.recv({ op: OP.HEARTBEAT_ACK });
  h.advance(1000);
  assert.deepEqual(ws.sent[2], { op: OP.HEARTBEAT, d: 1 });
});

test('op 1 asks for a heartbeat now', () => {
  const h = harness();
  const ws = readyUp(h);
  ws.recv({ op: OP.HEARTBEAT });
  assert.deepEqual(ws.sent.at(-1), { op: OP.HEARTBEAT, d: 1 });
});

test('a missed ACK drops the socket and resumes at resume_gateway_url', () => {
  const h = harness();
  const ws = readyUp(h);
  h.advance(500); // heartbeat, no ACK
  h.advance(1000); // next beat: not acknowledged
  assert.equal(ws.closed, 4900);
  assert.equal(h.gw.state, 'reconnecting');
  h.advance(500); // backoff(1) with random 0.5
  const ws2 = h.last();
  assert.equal(ws2.url, 'wss://resume.example/gateway?v=10&encoding=json');
  ws2.recv({ op: OP.HELLO, d: { heartbeat_interval: 1000 } });
  assert.deepEqual(ws2.sent[0], { op: OP.RESUME, d: { token: 'tok', session_id: 'sess', seq: 1 } });
  ws2.recv({ op: OP.DISPATCH, t: 'RESUMED', s: 2, d: null });
  assert.equal(h.gw.state, 'connected');
});

test('close codes', () => {
  for (const [code, want] of [[1006, 'resume'], [1001, 'resume'], [4000, 'resume'], [4008, 'resume'], [4004, 'fatal'], [4014, 'fatal'], [4007, 'identify'], [4009, 'identify']]) {
    assert.equal(closeAction(code), want, String(code));
  }
});

test('4004 is fatal and says so', () => {
  const h = harness();
  const ws = readyUp(h);
  ws.drop(4004);
  assert.equal(h.gw.state, 'closed');
  assert.ok(h.events.some((e) => e.type === 'fatal' && e.auth));
  h.advance(60000);
  assert.equal(h.sockets.length, 1, 'no reconnection');
});

test('4009 identifies afresh on the gateway URL', () => {
  const h = harness();
  const ws = readyUp(h);
  ws.drop(4009);
  h.advance(1000);
  const ws2 = h.last();
  assert.equal(ws2.url, 'wss://h/gateway?v=10&encoding=json');
  ws2.recv({ op: OP.HELLO, d: { heartbeat_interval: 1000 } });
  assert.equal(ws2.sent[0].op, OP.IDENTIFY);
});

test('op 9 not resumable: identify after 1-5 s', () => {
  const h = harness();
  const ws = readyUp(h);
  ws.recv({ op: OP.INVALID_SESSION, d: false });
  assert.equal(ws.closed, 4900);
  h.advance(2999);
  assert.equal(h.sockets.length, 1);
  h.advance(1);
  const ws2 = h.last();
  ws2.recv({ op: OP.HELLO, d: { heartbeat_interval: 1000 } });
  assert.equal(ws2.sent[0].op, OP.IDENTIFY);
});

test('op 7 reconnect resumes', () => {
  const h = harness();
  const ws = readyUp(h);
  ws.recv({ op: OP.RECONNECT });
  h.advance(1000);
  const ws2 = h.last();
  ws2.recv({ op: OP.HELLO, d: { heartbeat_interval: 1000 } });
  assert.equal(ws2.sent[0].op, OP.RESUME);
});

test('backoff grows with jitter and is capped', () => {
  assert.ok(backoff(1, () => 0.999) < 1000);
  assert.equal(backoff(2, () => 0), 1000);
  assert.equal(backoff(2, () => 1), 2000);
  assert.equal(backoff(3, () => 0), 2000);
  assert.equal(backoff(20, () => 1), 30000);
  assert.equal(backoff(20, () => 0), 15000);
});

test('close() ends the session: no reconnection, sends go nowhere', () => {
  const h = harness();
  const ws = readyUp(h);
  h.gw.close();
  assert.equal(ws.closed, 1000);
  assert.equal(h.gw.state, 'closed');
  assert.equal(h.gw.send(OP.PRESENCE, {}), false);
  h.advance(60000);
  assert.equal(h.sockets.length, 1);
});

test('dispatches carry t, d and s; seq is kept', () => {
  const h = harness();
  const ws = readyUp(h);
  ws.recv({ op: OP.DISPATCH, t: 'MESSAGE_CREATE', s: 7, d: { id: '5' } });
  assert.equal(h.gw.seq, 7);
  assert.deepEqual(h.events.filter((e) => e.type === 'dispatch').map((e) => e.t), ['READY', 'MESSAGE_CREATE']);
});

test('a socket without Hello is dropped after helloTimeout and retried', () => {
  const h = harness();
  h.gw.connect();
  const ws = h.last();
  h.advance(14999);
  assert.equal(ws.closed, null, 'still waiting for Hello');
  h.advance(1);
  assert.equal(ws.closed, 4900);
  assert.equal(h.gw.state, 'reconnecting');
  h.advance(500); // backoff(1) with random 0.5
  const ws2 = h.last();
  assert.notEqual(ws2, ws);
  ws2.recv({ op: OP.HELLO, d: { heartbeat_interval: 60000 } });
  assert.equal(ws2.sent[0].op, OP.IDENTIFY);
  h.advance(20000); // the first heartbeat is at 30 s
  assert.equal(ws2.closed, null, 'Hello came: no timeout afterwards');
});
