import test from 'node:test';
import assert from 'node:assert/strict';
import { VoiceSignal, ANSWER_TIMEOUT } from './voicesignal.js';
import { backoff } from './gateway.js';

const ME = '100';

// harness: a VoiceSignal with a fake gateway (sent op 4s, up or down) and
// fake timers moved by hand.
function harness() {
  let now = 0;
  let id = 0;
  const timers = new Map();
  const t = {
    setTimeout: (f, ms) => (timers.set(++id, { f, at: now + ms }), id),
    clearTimeout: (i) => timers.delete(i),
  };
  const advance = (ms) => {
    const end = now + ms;
    for (;;) {
      const due = [...timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].f();
    }
    now = end;
  };
  const h = { sent: [], up: true, events: [], advance, timers };
  h.sig = new VoiceSignal({
    userId: ME, timers: t, random: () => 0.5,
    send: (guildId, channelId) => {
      if (!h.up) return false;
      h.sent.push([guildId, channelId]);
      return true;
    },
    on: {
      connect: (p) => h.events.push(['connect', p]),
      ended: () => h.events.push(['ended']),
      moved: () => h.events.push(['moved']),
      failed: (m) => h.events.push(['failed', m]),
    },
  });
  h.state = (guild, channel, session) => h.sig.dispatch('VOICE_STATE_UPDATE', { user_id: ME, guild_id: guild, channel_id: channel, session_id: session });
  h.server = (guild, token) => h.sig.dispatch('VOICE_SERVER_UPDATE', { guild_id: guild, token, endpoint: 'voice.example:8443' });
  h.take = () => h.events.splice(0);
  h.takeSent = () => h.sent.splice(0);
  return h;
}

function joined(h, guild = '1', channel = '12', session = 's1') {
  h.sig.join(guild, channel);
  h.state(guild, channel, session);
  h.server(guild, `tok-${session}`);
  const ev = h.take();
  assert.equal(ev.length, 1);
  assert.equal(ev[0][0], 'connect');
  h.takeSent();
  return ev[0][1];
}

test('join: op 4, then the state and the server update make a connection', () => {
  const h = harness();
  h.sig.join('1', '12');
  assert.deepEqual(h.takeSent(), [['1', '12']]);
  h.server('1', 'early');
  assert.deepEqual(h.take(), [], 'a server update before our state is not paired');
  h.state('1', '12', 's1');
  h.server('1', 'tok');
  assert.deepEqual(h.take(), [['connect', { guildId: '1', channelId: '12', sessionId: 's1', token: 'tok', endpoint: 'voice.example:8443' }]]);
  assert.deepEqual(h.sig.live, { guildId: '1', channelId: '12', sessionId: 's1' });
  assert.equal(h.sig.pending, null);
  h.advance(ANSWER_TIMEOUT * 2);
  assert.deepEqual(h.take(), [], 'answered: no timeout');
});

test('switching channels mid-join: the old channel\'s answers are not paired with the new request', () => {
  const h = harness();
  h.sig.join('1', 'C');
  h.sig.join('1', 'D');
  assert.deepEqual(h.takeSent(), [['1', 'C'], ['1', 'D']], 'same guild: no leave in between');
  h.state('1', 'C', 'sC');
  h.server('1', 'tok-C');
  assert.deepEqual(h.take(), [], 'C\'s answers are stale');
  assert.equal(h.sig.channelId, 'D', 'not taken for a moderator move');
  h.state('1', 'D', 'sD');
  h.server('1', 'tok-D');
  const [[kind, p]] = h.take();
  assert.equal(kind, 'connect');
  assert.deepEqual([p.channelId, p.sessionId, p.token], ['D', 'sD', 'tok-D']);
});

test('a server update for another guild is not paired', () => {
  const h = harness();
  h.sig.join('1', '12');
  h.state('1', '12', 's1');
  h.server('2', 'other');
  assert.deepEqual(h.take(), []);
  h.server('1', 'tok');
  assert.equal(h.take()[0][0], 'connect');
});

test('joining another guild leaves the old one first; its end is not ours', () => {
  const h = harness();
  joined(h, '1', '12');
  h.sig.join('2', '22');
  assert.deepEqual(h.takeSent(), [['1', null], ['2', '22']]);
  h.state('1', null, null); // the old guild's state ends
  assert.deepEqual(h.take(), []);
  assert.equal(h.sig.channelId, '22');
  h.state('2', '22', 's2');
  h.server('2', 'tok2');
  assert.equal(h.take()[0][1].guildId, '2');
});

test('a request made while the gateway is down goes on RESUMED (or READY)', () => {
  for (const t of ['RESUMED', 'READY']) {
    const h = harness();
    h.up = false;
    h.sig.join('1', '12');
    assert.equal(h.sig.pending.sent, false);
    h.advance(ANSWER_TIMEOUT * 2);
    assert.deepEqual(h.take(), [], `${t}: no answer is expected from a request not sent`);
    h.up = true;
    h.sig.dispatch(t, {});
    assert.deepEqual(h.takeSent(), [['1', '12']], t);
    h.sig.dispatch('RESUMED', {});
    assert.deepEqual(h.takeSent(), [], `${t}: sent once`);
    h.state('1', '12', 's1');
    h.server('1', 'tok');
    assert.equal(h.take()[0][0], 'connect', t);
  }
});

test('an unanswered request fails after the answer timeout', () => {
  const h = harness();
  h.sig.join('1', '12'); // a full channel: the server says nothing
  h.advance(ANSWER_TIMEOUT - 1);
  assert.deepEqual(h.take(), []);
  h.advance(1);
  assert.deepEqual(h.take(), [['failed', 'The server did not answer the request to join voice.']]);
  assert.equal(h.sig.pending, null);
  assert.equal(h.sig.channelId, '12', 'still wanted: failed() rejoins');
});

test('failed: rejoin after a backoff (leave, then join); the leave\'s own end is expected', () => {
  const h = harness();
  joined(h);
  const wait = h.sig.failed();
  assert.equal(wait, backoff(2, () => 0.5));
  assert.equal(h.sig.live, null);
  h.advance(wait - 1);
  assert.deepEqual(h.takeSent(), []);
  h.advance(1);
  assert.deepEqual(h.takeSent(), [['1', null], ['1', '12']]);
  h.state('1', null, null); // the rejoin's leave
  assert.deepEqual(h.take(), [], 'not an end');
  h.state('1', '12', 's2');
  h.server('1', 'tok2');
  assert.equal(h.take()[0][1].sessionId, 's2');
  h.sig.connected();
  assert.equal(h.sig.failed(), backoff(2, () => 0.5), 'connected: the backoff starts over');
});

test('the backoff grows while rejoins fail', () => {
  const h = harness();
  joined(h);
  const waits = [];
  for (let i = 0; i < 3; i++) {
    waits.push(h.sig.failed());
    h.advance(waits.at(-1));
    h.state('1', null, null);
    h.state('1', '12', `s${i + 2}`);
    h.server('1', 'tok');
    h.take();
  }
  assert.deepEqual(waits, [2, 3, 4].map((n) => backoff(n, () => 0.5)));
});

test('a rejoin timer does not fire once voice is back another way (READY re-request)', () => {
  const h = harness();
  joined(h);
  const wait = h.sig.failed();
  h.sig.dispatch('READY', {}); // a fresh chat session asks again
  assert.deepEqual(h.takeSent(), [['1', '12']]);
  assert.equal(h.sig.rejoinPending, false, 'READY cancels the rejoin');
  h.state('1', '12', 's2');
  h.server('1', 'tok2');
  assert.equal(h.take()[0][0], 'connect');
  h.advance(wait * 4);
  assert.deepEqual(h.takeSent(), [], 'no leave cuts the live connection');
});

test('a rejoin timer does not fire while voice is live or a request pending', () => {
  const h = harness();
  joined(h);
  const wait = h.sig.failed();
  h.state('1', '13', 's2'); // a moderator moves us meanwhile: its server update follows
  assert.deepEqual(h.take(), [['moved']]);
  assert.equal(h.sig.channelId, '13');
  h.advance(wait);
  assert.deepEqual(h.takeSent(), [], 'a move is pending');
  h.server('1', 'tok2');
  const [[kind, p]] = h.take();
  assert.deepEqual([kind, p.channelId, p.sessionId], ['connect', '13', 's2']);
  assert.equal(h.sig.rejoinPending, false, 'connecting cancels the rejoin');

  const wait2 = h.sig.failed();
  h.sig.join('1', '12'); // the user clicks meanwhile
  h.takeSent();
  h.advance(wait2 * 4);
  assert.deepEqual(h.takeSent(), [], 'a join cancels the rejoin');
});

test('READY while live: an answer naming the live session changes nothing', () => {
  const h = harness();
  joined(h, '1', '12', 's1');
  h.sig.dispatch('READY', {});
  assert.deepEqual(h.takeSent(), [['1', '12']]);
  h.state('1', '12', 's1'); // no hand-off: no server update follows
  assert.equal(h.sig.pending, null);
  h.advance(ANSWER_TIMEOUT * 2);
  assert.deepEqual(h.take(), []);
  assert.deepEqual(h.sig.live, { guildId: '1', channelId: '12', sessionId: 's1' });
});

test('READY while live, no answer at all: the live connection carries on', () => {
  const h = harness();
  joined(h);
  h.sig.dispatch('READY', {});
  h.advance(ANSWER_TIMEOUT);
  assert.deepEqual(h.take(), []);
  assert.equal(h.sig.pending, null);
});

test('the server ends our state: ended; an end during our request is the old state\'s', () => {
  const h = harness();
  joined(h);
  h.state('1', null, null);
  assert.deepEqual(h.take(), [['ended']]);
  assert.equal(h.sig.channelId, null);

  h.sig.join('1', '12');
  h.state('1', null, null); // an old chat session's state ends after our request went
  assert.deepEqual(h.take(), []);
  h.state('1', '12', 's9');
  h.state('1', null, null); // answered, then disconnected by a moderator
  assert.deepEqual(h.take(), [['ended']]);
});

test('others\' states and other guilds are not ours', () => {
  const h = harness();
  joined(h);
  h.sig.dispatch('VOICE_STATE_UPDATE', { user_id: '200', guild_id: '1', channel_id: null });
  h.sig.dispatch('VOICE_STATE_UPDATE', { user_id: '200', guild_id: '1', channel_id: '13', session_id: 'x' });
  h.state('2', null, null);
  assert.deepEqual(h.take(), []);
  assert.equal(h.sig.channelId, '12');
});

test('leave: op 4 with no channel, nothing scheduled afterwards', () => {
  const h = harness();
  joined(h);
  h.sig.failed();
  h.sig.leave();
  assert.deepEqual(h.takeSent(), [['1', null]]);
  assert.equal(h.timers.size, 0);
  h.sig.leave();
  assert.deepEqual(h.takeSent(), [], 'once');
  h.sig.dispatch('READY', {});
  assert.deepEqual(h.takeSent(), [], 'not in voice: READY asks for nothing');
  h.sig.update();
  assert.deepEqual(h.takeSent(), []);
});

test('update re-sends the state in voice', () => {
  const h = harness();
  joined(h);
  h.sig.update();
  assert.deepEqual(h.takeSent(), [['1', '12']]);
  h.state('1', '12', 's1');
  assert.deepEqual(h.take(), []);
});
