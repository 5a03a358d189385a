import test from 'node:test';
import assert from 'node:assert/strict';
import { createState, apply, messagesOf, cmpId, isUnread, insertMessage, addHistory, markRead, guildChannels, voiceMembers, typingUsers, typingText, statusOf, TYPING_MS } from './store.js';

const me = { id: '100', username: 'alice' };
const guild = {
  id: '1', name: 'Parley',
  channels: [
    { id: '11', type: 0, name: 'general', position: 0, last_message_id: '900' },
    { id: '13', type: 0, name: 'random', position: 1, last_message_id: null },
    { id: '12', type: 2, name: 'Lounge', position: 0 },
  ],
  members: [{ user: me, roles: [] }, { user: { id: '200', username: 'bob' }, roles: [] }],
  presences: [{ user: { id: '200' }, status: 'idle' }],
  voice_states: [{ user_id: '200', channel_id: '12', session_id: 's', self_mute: true }],
};

function ready() {
  const s = createState();
  apply(s, 'READY', { user: me, session_id: 'x', guilds: [{ id: '1', unavailable: true }], read_state: { entries: [{ id: '11', last_message_id: '800' }] } });
  apply(s, 'GUILD_CREATE', guild);
  return s;
}

test('cmpId compares snowflakes as numbers', () => {
  assert.equal(cmpId('9', '10'), -1);
  assert.equal(cmpId('1579490783667421185', '1579490783667421184'), 1);
  assert.equal(cmpId('5', '5'), 0);
});

test('isUnread', () => {
  for (const [name, c, read, want] of [
    ['newer', { type: 0, last_message_id: '10' }, '9', true],
    ['read', { type: 0, last_message_id: '10' }, '10', false],
    ['never read', { type: 0, last_message_id: '10' }, undefined, true],
    ['empty channel', { type: 0, last_message_id: null }, undefined, false],
    ['voice', { type: 2, last_message_id: '10' }, undefined, false],
  ]) assert.equal(isUnread(c, read), want, name);
});

test('READY and GUILD_CREATE', () => {
  const s = ready();
  assert.equal(s.me.id, '100');
  assert.equal(s.acks, true);
  assert.deepEqual(guildChannels(s, '1', 0).map((c) => c.name), ['general', 'random']);
  assert.deepEqual(guildChannels(s, '1', 2).map((c) => c.name), ['Lounge']);
  assert.equal(isUnread(s.channels.get('11'), s.readState.get('11')), true);
  assert.equal(statusOf(s, '200'), 'idle');
  assert.equal(statusOf(s, '100'), 'online');
  assert.equal(statusOf(s, '999'), 'offline');
  assert.deepEqual(voiceMembers(s, '1', '12').map((v) => v.user_id), ['200']);
});

test('READY without read_state: no acks', () => {
  const s = createState();
  apply(s, 'READY', { user: me, session_id: 'x', guilds: [] });
  assert.equal(s.acks, false);
});

test('messages: create, own read, update, delete, typing ends', () => {
  const s = ready();
  addHistory(s, '11', [{ id: '900', channel_id: '11', author: { id: '200' }, content: 'b' }, { id: '800', channel_id: '11', author: me, content: 'a' }], 50);
  assert.deepEqual(s.messages.get('11').list.map((m) => m.id), ['800', '900']);
  assert.equal(s.messages.get('11').complete, true);
  apply(s, 'TYPING_START', { channel_id: '11', user_id: '200', guild_id: '1' }, 1000);
  assert.deepEqual(typingUsers(s, '11', 1001), ['200']);
  let ch = apply(s, 'MESSAGE_CREATE', { id: '901', channel_id: '11', author: { id: '200', username: 'bob' }, content: 'c' });
  assert.ok(ch.has('messages:11') && ch.has('typing'));
  assert.deepEqual(typingUsers(s, '11', 1001), []);
  assert.equal(s.channels.get('11').last_message_id, '901');
  apply(s, 'MESSAGE_CREATE', { id: '902', channel_id: '11', author: me, content: 'mine' });
  assert.equal(isUnread(s.channels.get('11'), s.readState.get('11')), false, 'one\'s own message is read');
  apply(s, 'MESSAGE_UPDATE', { id: '901', channel_id: '11', content: 'edited', edited_timestamp: 'x' });
  assert.equal(s.messages.get('11').list.find((m) => m.id === '901').content, 'edited');
  assert.equal(s.messages.get('11').list.find((m) => m.id === '901').author.id, '200');
  apply(s, 'MESSAGE_DELETE', { id: '900', channel_id: '11' });
  assert.deepEqual(s.messages.get('11').list.map((m) => m.id), ['800', '901', '902']);
  apply(s, 'MESSAGE_CREATE', { id: '902', channel_id: '11', author: me, content: 'again' });
  assert.equal(s.messages.get('11').list.length, 3, 'the same id twice is one message');
});

test('typing expires after TYPING_MS and ignores oneself', () => {
  const s = ready();
  apply(s, 'TYPING_START', { channel_id: '11', user_id: '200' }, 0);
  apply(s, 'TYPING_START', { channel_id: '11', user_id: '100' }, 0);
  assert.deepEqual(typingUsers(s, '11', TYPING_MS - 1), ['200']);
  assert.deepEqual(typingUsers(s, '11', TYPING_MS), []);
  assert.equal(typingText(['a']), 'a is typing…');
  assert.equal(typingText(['a', 'b']), 'a and b are typing…');
  assert.equal(typingText(['a', 'b', 'c', 'd']), 'Several people are typing…');
});

test('markRead never moves back', () => {
  const s = ready();
  assert.equal(markRead(s, '11', '700'), false);
  assert.equal(markRead(s, '11', '900'), true);
  assert.equal(s.readState.get('11'), '900');
});

test('voice states: join, move, leave', () => {
  const s = ready();
  apply(s, 'VOICE_STATE_UPDATE', { guild_id: '1', user_id: '100', channel_id: '12', session_id: 'a' });
  assert.deepEqual(voiceMembers(s, '1', '12').map((v) => v.user_id).sort(), ['100', '200']);
  apply(s, 'VOICE_STATE_UPDATE', { guild_id: '1', user_id: '200', channel_id: null });
  assert.deepEqual(voiceMembers(s, '1', '12').map((v) => v.user_id), ['100']);
});

test('presence updates', () => {
  const s = ready();
  apply(s, 'PRESENCE_UPDATE', { user: { id: '200' }, status: 'offline', guild_id: '1' });
  assert.equal(statusOf(s, '200'), 'offline');
  apply(s, 'PRESENCE_UPDATE', { user: { id: '200' }, status: 'dnd', guild_id: '1' });
  assert.equal(statusOf(s, '200'), 'dnd');
});

test('insertMessage keeps id order', () => {
  const list = [];
  for (const id of ['5', '3', '10', '4']) insertMessage(list, { id });
  assert.deepEqual(list.map((m) => m.id), ['3', '4', '5', '10']);
});

test('READY after a failed resume starts over: caches, guilds, read marks, typing', () => {
  const s = ready();
  addHistory(s, '11', [{ id: '900', channel_id: '11', author: { id: '200' }, content: 'b' }], 50);
  apply(s, 'TYPING_START', { channel_id: '11', user_id: '200', guild_id: '1' }, 0);
  apply(s, 'GUILD_CREATE', { id: '2', name: 'Left meanwhile', channels: [{ id: '21', type: 0, name: 'x' }] });
  const changed = apply(s, 'READY', { user: me, session_id: 'y', guilds: [{ id: '1', unavailable: true }], read_state: { entries: [{ id: '11', last_message_id: '950' }] } });
  assert.ok(changed.has('ready') && changed.has('channels') && changed.has('members') && changed.has('voice'));
  assert.equal(s.sessionId, 'y');
  assert.equal(s.me.id, '100');
  assert.equal(s.messages.size, 0, 'message caches dropped: what was missed loads again');
  assert.deepEqual([...s.guilds.keys()], ['1']);
  assert.equal(s.guilds.get('1').unavailable, true, 'until its GUILD_CREATE');
  assert.equal(s.channels.size, 0);
  assert.equal(s.voice.size, 0);
  assert.equal(s.typing.size, 0);
  assert.equal(s.readState.get('11'), '950');
  apply(s, 'GUILD_CREATE', guild);
  assert.equal(s.guilds.get('1').unavailable, false);
  assert.equal(s.channels.get('11').name, 'general');
});

test('a live message goes into a cache that is still loading; history merges by id', () => {
  const s = ready();
  messagesOf(s, '13'); // the view opened the channel: an empty cache, loading
  apply(s, 'MESSAGE_CREATE', { id: '1000', channel_id: '13', author: { id: '200' }, content: 'live' });
  assert.deepEqual(s.messages.get('13').list.map((x) => x.id), ['1000']);
  assert.equal(s.messages.get('13').loaded, false);
  addHistory(s, '13', [{ id: '1000', channel_id: '13', author: { id: '200' } }, { id: '990', channel_id: '13', author: { id: '200' } }], 50);
  assert.deepEqual(s.messages.get('13').list.map((x) => x.id), ['990', '1000']);
  apply(s, 'MESSAGE_CREATE', { id: '5', channel_id: '11', author: { id: '200' } });
  assert.equal(s.messages.has('11'), false, 'a channel never opened gets no cache');
});
