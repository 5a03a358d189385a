// store.js: what the page knows, kept up to date by the gateway's
// dispatches (apply), and the derived views the page draws: channel
// order, unread marks, who is in voice, who is typing. Pure: no DOM, no
// network; unit tested in Node (store.test.js).

/** TYPING_MS is how long a TYPING_START shows. */
export const TYPING_MS = 10000;

/** cmpId compares snowflakes (decimal strings) numerically. */
export function cmpId(a, b) {
  a = String(a ?? '');
  b = String(b ?? '');
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** snowflakeTime is the creation time (ms) of a snowflake (Discord's epoch). */
export function snowflakeTime(id) {
  try {
    return Number((BigInt(id) >> 22n) + 1420070400000n);
  } catch {
    return 0;
  }
}

/** isUnread: the channel has a message newer than the last one the user read. */
export function isUnread(channel, lastRead) {
  if (!channel || channel.type !== 0 || !channel.last_message_id) return false;
  return !lastRead || cmpId(channel.last_message_id, lastRead) > 0;
}

export function createState() {
  return {
    me: null, // the user object
    sessionId: null,
    guilds: new Map(), // id -> guild (without channels/members)
    channels: new Map(), // id -> channel
    members: new Map(), // guildId -> Map(userId -> member)
    users: new Map(), // id -> user
    presences: new Map(), // userId -> status
    voice: new Map(), // guildId -> Map(userId -> voice state with channel_id)
    messages: new Map(), // channelId -> {list: [], loaded, complete}
    readState: new Map(), // channelId -> last read message id
    acks: false, // the server keeps read states (READY carried read_state): acks are sent
    typing: new Map(), // channelId -> Map(userId -> until ms)
  };
}

function putUser(s, u) {
  if (!u?.id) return;
  s.users.set(u.id, { ...s.users.get(u.id), ...u });
}

function putMember(s, guildId, m) {
  if (!m?.user?.id) return;
  putUser(s, m.user);
  if (!s.members.has(guildId)) s.members.set(guildId, new Map());
  const g = s.members.get(guildId);
  g.set(m.user.id, { ...g.get(m.user.id), ...m, user: s.users.get(m.user.id) });
}

function putVoice(s, st) {
  const gid = st.guild_id;
  if (!gid || !st.user_id) return;
  if (!s.voice.has(gid)) s.voice.set(gid, new Map());
  const g = s.voice.get(gid);
  if (st.channel_id) g.set(st.user_id, st);
  else g.delete(st.user_id);
  if (st.member) putMember(s, gid, st.member);
}

/** messagesOf returns a channel's message cache, created empty. */
export function messagesOf(s, channelId) {
  let m = s.messages.get(channelId);
  if (!m) s.messages.set(channelId, (m = { list: [], loaded: false, complete: false }));
  return m;
}

/** insertMessage puts a message in id order (replacing one with its id). */
export function insertMessage(list, msg) {
  let i = list.length;
  while (i > 0 && cmpId(list[i - 1].id, msg.id) > 0) i--;
  if (i > 0 && list[i - 1].id === msg.id) {
    list[i - 1] = msg;
    return;
  }
  list.splice(i, 0, msg);
}

/** addHistory merges an older page (GET messages, newest first) into the cache. */
export function addHistory(s, channelId, page, limit) {
  const m = messagesOf(s, channelId);
  for (const msg of page) {
    putUser(s, msg.author);
    insertMessage(m.list, msg);
  }
  m.loaded = true;
  if (page.length < limit) m.complete = true;
}

function dropTyping(s, channelId, userId) {
  s.typing.get(channelId)?.delete(userId);
}

/**
 * apply folds a dispatch into the state and returns what changed, for
 * the page to redraw: a Set of 'guilds', 'channels', 'members', 'voice',
 * 'typing', 'me', 'messages:<channelId>', and 'ready' (everything was
 * reset: message caches too).
 */
export function apply(s, t, d, now = Date.now()) {
  const changed = new Set();
  if (!d) return changed;
  switch (t) {
    case 'READY':
      // A new session: the first, or one after a resume that failed. What
      // the page knew may be stale (messages sent during the outage, guilds
      // or channels gone), so it starts over from READY; the guilds come
      // back in GUILD_CREATE, message caches reload when shown.
      Object.assign(s, createState());
      s.me = d.user;
      s.sessionId = d.session_id;
      putUser(s, d.user);
      if (d.user?.id) s.presences.set(d.user.id, 'online'); // this session is
      s.acks = d.read_state != null;
      for (const e of d.read_state?.entries ?? (Array.isArray(d.read_state) ? d.read_state : [])) {
        if (e?.id && e.last_message_id) s.readState.set(e.id, String(e.last_message_id));
      }
      for (const g of d.guilds ?? []) if (!s.guilds.has(g.id)) s.guilds.set(g.id, { id: g.id, name: '', unavailable: true });
      changed.add('ready').add('me').add('guilds').add('channels').add('members').add('voice').add('typing');
      break;
    case 'GUILD_CREATE':
    case 'GUILD_UPDATE': {
      const { channels, members, presences, voice_states: vs, ...guild } = d;
      s.guilds.set(d.id, { ...s.guilds.get(d.id), ...guild, unavailable: false });
      if (t === 'GUILD_CREATE') {
        for (const [id, c] of s.channels) if (c.guild_id === d.id) s.channels.delete(id);
        s.voice.set(d.id, new Map());
      }
      for (const c of channels ?? []) s.channels.set(c.id, { ...c, guild_id: d.id });
      for (const m of members ?? []) putMember(s, d.id, m);
      for (const p of presences ?? []) if (p?.user?.id) s.presences.set(p.user.id, p.status ?? 'offline');
      for (const v of vs ?? []) putVoice(s, { ...v, guild_id: d.id });
      changed.add('guilds').add('channels').add('members').add('voice');
      break;
    }
    case 'GUILD_DELETE':
      s.guilds.delete(d.id);
      for (const [id, c] of s.channels) if (c.guild_id === d.id) s.channels.delete(id);
      s.members.delete(d.id);
      s.voice.delete(d.id);
      changed.add('guilds').add('channels').add('members').add('voice');
      break;
    case 'CHANNEL_CREATE':
    case 'CHANNEL_UPDATE':
      s.channels.set(d.id, { ...s.channels.get(d.id), ...d });
      changed.add('channels');
      break;
    case 'CHANNEL_DELETE':
      s.channels.delete(d.id);
      s.messages.delete(d.id);
      changed.add('channels');
      break;
    case 'GUILD_MEMBER_ADD':
    case 'GUILD_MEMBER_UPDATE':
      putMember(s, d.guild_id, d);
      changed.add('members').add('voice');
      break;
    case 'GUILD_MEMBER_REMOVE':
      s.members.get(d.guild_id)?.delete(d.user?.id);
      changed.add('members');
      break;
    case 'PRESENCE_UPDATE':
      if (d.user?.id) {
        s.presences.set(d.user.id, d.status ?? 'offline');
        if (d.user.username) putUser(s, d.user);
        changed.add('members');
      }
      break;
    case 'VOICE_STATE_UPDATE':
      putVoice(s, d);
      changed.add('voice');
      break;
    case 'TYPING_START': {
      if (!d.channel_id || !d.user_id || d.user_id === s.me?.id) break;
      if (d.member) putMember(s, d.guild_id, d.member);
      if (!s.typing.has(d.channel_id)) s.typing.set(d.channel_id, new Map());
      s.typing.get(d.channel_id).set(d.user_id, now + TYPING_MS);
      changed.add('typing');
      break;
    }
    case 'MESSAGE_CREATE': {
      putUser(s, d.author);
      if (d.member && d.guild_id) putMember(s, d.guild_id, { ...d.member, user: d.author });
      const c = s.channels.get(d.channel_id);
      if (c && (!c.last_message_id || cmpId(d.id, c.last_message_id) > 0)) {
        s.channels.set(c.id, { ...c, last_message_id: d.id });
        changed.add('channels');
      }
      if (d.author?.id && d.author.id === s.me?.id) {
        s.readState.set(d.channel_id, d.id); // one's own message is read
        changed.add('channels');
      }
      // Into a cache being loaded too: the page's history request may have
      // been answered before this message existed (merged by id after).
      const m = s.messages.get(d.channel_id);
      if (m) insertMessage(m.list, d);
      if (s.typing.get(d.channel_id)?.has(d.author?.id)) {
        dropTyping(s, d.channel_id, d.author.id);
        changed.add('typing');
      }
      changed.add(`messages:${d.channel_id}`);
      break;
    }
    case 'MESSAGE_UPDATE': {
      const m = s.messages.get(d.channel_id);
      const i = m ? m.list.findIndex((x) => x.id === d.id) : -1;
      if (i >= 0) {
        m.list[i] = { ...m.list[i], ...d };
        changed.add(`messages:${d.channel_id}`);
      }
      break;
    }
    case 'MESSAGE_DELETE': {
      const m = s.messages.get(d.channel_id);
      const i = m ? m.list.findIndex((x) => x.id === d.id) : -1;
      if (i >= 0) {
        m.list.splice(i, 1);
        changed.add(`messages:${d.channel_id}`);
      }
      break;
    }
    case 'MESSAGE_DELETE_BULK': {
      const m = s.messages.get(d.channel_id);
      if (m) {
        const ids = new Set(d.ids ?? []);
        m.list = m.list.filter((x) => !ids.has(x.id));
        changed.add(`messages:${d.channel_id}`);
      }
      break;
    }
    case 'MESSAGE_ACK':
      if (d.channel_id && d.message_id) {
        markRead(s, d.channel_id, d.message_id);
        changed.add('channels');
      }
      break;
  }
  return changed;
}

/** markRead moves a channel's read mark forward (never back). */
export function markRead(s, channelId, messageId) {
  const cur = s.readState.get(channelId);
  if (!cur || cmpId(messageId, cur) > 0) {
    s.readState.set(channelId, String(messageId));
    return true;
  }
  return false;
}

/** guildChannels lists a guild's channels of one type in display order. */
export function guildChannels(s, guildId, type) {
  return [...s.channels.values()]
    .filter((c) => c.guild_id === guildId && c.type === type)
    .sort((a, b) => (a.position ?? 0) - (b.position ?? 0) || cmpId(a.id, b.id));
}

/** voiceMembers lists the voice states in a channel, by join order of ids. */
export function voiceMembers(s, guildId, channelId) {
  const g = s.voice.get(guildId);
  if (!g) return [];
  return [...g.values()].filter((v) => v.channel_id === channelId);
}

/** typingUsers lists who is typing in a channel at now (and forgets the expired). */
export function typingUsers(s, channelId, now = Date.now()) {
  const m = s.typing.get(channelId);
  if (!m) return [];
  const out = [];
  for (const [id, until] of m) {
    if (until <= now) m.delete(id);
    else out.push(id);
  }
  return out;
}

/** typingText is the typing indicator's sentence for names. */
export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return 'Several people are typing…';
}

/** displayName is how a user is shown in a guild (nick, global name, username). */
export function displayName(s, guildId, userId) {
  const m = s.members.get(guildId)?.get(userId);
  const u = s.users.get(userId) ?? m?.user;
  return m?.nick || u?.global_name || u?.username || 'unknown';
}

/** statusOf is a user's presence status (offline when unknown). */
export function statusOf(s, userId) {
  const st = s.presences.get(userId);
  return ['online', 'idle', 'dnd'].includes(st) ? st : 'offline';
}
