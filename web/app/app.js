// app.js: the Parley web client. Signs in (token in localStorage),
// connects the chat gateway, keeps the store up to date and draws the
// page; voice through VoiceSession, cameras drawn by video.js. Debug
// surface for tests and support: window.parley = {state(), voice(),
// heard(), e2ee(), dave(), video()}.

import { $ } from './dom.js';
import { fillIcons } from './icons.js';
import { Api, ApiError } from './api.js';
import { Gateway } from './gateway.js';
import { gatewayURL, channelPath, parsePath } from './urls.js';
import { createState, apply, guildChannels, typingUsers, typingText, displayName, cmpId } from './store.js';
import { MessageView } from './messages.js';
import { Composer } from './composer.js';
import { VoiceSession } from './voicesession.js';
import { renderGuilds, renderChannels, renderSpeaking, renderVoiceControls, renderDevices, renderMembers, renderUserPanel } from './sidebar.js';
import { renderVideo } from './video.js';

const TOKEN_KEY = 'parley.token';

const app = {
  state: createState(),
  api: new Api({ onUnauthorized: () => signedOut('Your session has ended. Please sign in again.') }),
  gw: null,
  voice: null,
  guildId: null,
  channelId: null,
  editing: null,
  volumeOpen: null,
  messages: null,
  composer: null,
  wanted: parsePath(location.pathname),
  select,
  clickVoice,
  render,
  toast,
  apply: (t, d) => onDispatch(t, d, true),
};

// Drawing, batched: parts named by store.apply's change set.
const dirty = new Set();
let flushTimer = null;
function render(...parts) {
  for (const p of parts) dirty.add(p);
  flushTimer ??= setTimeout(flush, 0);
}

function flush() {
  flushTimer = null;
  const d = new Set(dirty);
  dirty.clear();
  if (!app.state.me) return;
  // A new chat session reset the store: the open channel's messages load
  // afresh (those sent during the outage included). The selection stays:
  // resolveSelection waits for its guild's GUILD_CREATE.
  if (d.has('ready') && app.channelId) app.messages.show(app.channelId);
  if (d.has('guilds') || d.has('channels')) {
    resolveSelection();
    renderGuilds(app);
  }
  if (d.has('channels') || d.has('voice') || d.has('members')) renderChannels(app);
  if (d.has('members')) renderMembers(app);
  if (d.has('speaking')) renderSpeaking(app);
  if (d.has('voice') || d.has('voicectl') || d.has('video')) renderVoiceControls(app);
  if (d.has('voice') || d.has('video') || d.has('members')) renderVideo(app);
  if (d.has('me')) renderUserPanel(app);
  if (d.has('typing')) renderTyping();
  if (d.has(`messages:${app.channelId}`)) app.messages.changed();
  if (d.has('channels')) renderHeader();
  renderStatus();
}

function renderHeader() {
  const c = app.state.channels.get(app.channelId);
  const g = app.state.guilds.get(app.guildId);
  $('.channel-name').textContent = c?.name ?? '';
  $('.channel-topic').textContent = c?.topic ?? '';
  document.title = c ? `#${c.name} | ${g?.name ?? ''} — Parley` : 'Parley';
}

function renderTyping() {
  const ids = app.channelId ? typingUsers(app.state, app.channelId) : [];
  const el = $('#typing');
  const text = typingText(ids.map((id) => displayName(app.state, app.guildId, id)));
  // A live region: written only when it changes, or screen readers repeat it.
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle('active', ids.length > 0);
}

let toastTimer = null;
function toast(msg) {
  let el = $('.toast');
  if (!el) {
    el = document.createElement('div');
    el.className = 'toast';
    el.setAttribute('role', 'alert');
    document.body.append(el);
  }
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

// The banner: the worst of the network, the chat gateway and voice.
function currentStatus() {
  const gw = app.gw;
  const v = app.voice;
  if (!navigator.onLine) return ['offline', 'You are offline. Parley will reconnect when the network is back.'];
  if (!gw || gw.state === 'connecting' || gw.state === 'idle') return ['connecting', 'Connecting…'];
  if (gw.state === 'reconnecting') return ['reconnecting', 'Connection lost. Reconnecting…'];
  if (gw.state === 'closed') return ['offline', 'Disconnected.'];
  if (v?.state === 'refused') return ['voice-refused', v.message];
  if (v?.channelId) {
    if (v.state === 'failed') return ['voice-failed', v.message || 'Voice connection failed. Retrying…', v.link];
    if (v.state === 'reconnecting') return ['reconnecting', 'Voice connection lost. Reconnecting…'];
    if (v.micDenied) return ['mic-denied', v.micError];
  }
  return ['connected', 'Connected'];
}

function renderStatus() {
  const [state, msg, link = null] = currentStatus();
  const el = $('#status');
  let a = $('.status-link', el);
  if (el.dataset.state === state && $('.status-text', el).textContent === msg && (a?.href ?? null) === link) return;
  el.dataset.state = state;
  $('.status-text', el).textContent = msg;
  if (!link) return a?.remove();
  if (!a) {
    a = document.createElement('a');
    a.className = 'status-link';
    a.target = '_blank';
    a.rel = 'noopener';
    el.append(' ', a);
  }
  a.href = link;
  a.textContent = `Open ${link}`;
}

// Selection and routing.

function resolveSelection() {
  const s = app.state;
  const w = app.wanted;
  if (w && s.guilds.get(w.guildId) && !s.guilds.get(w.guildId).unavailable) {
    app.wanted = null;
    return select(w.guildId, w.channelId, true);
  }
  const cur = app.guildId ? s.guilds.get(app.guildId) : null;
  if (cur?.unavailable) return; // its GUILD_CREATE is on the way
  if (cur) {
    const c = s.channels.get(app.channelId);
    if (c && c.guild_id === app.guildId && c.type === 0) return;
    // A guild without a text channel (none, or none visible) is settled
    // with no channel open: selecting it again would redraw for ever.
    if (!app.channelId && guildChannels(s, app.guildId, 0).length === 0) return;
  }
  const g = cur ? app.guildId : [...s.guilds.values()].filter((x) => !x.unavailable).sort((a, b) => cmpId(a.id, b.id))[0]?.id;
  if (g) select(g, null, true);
}

function select(guildId, channelId, replace = false) {
  const s = app.state;
  const text = guildChannels(s, guildId, 0);
  if (!text.some((c) => c.id === channelId)) {
    const last = localStorage.getItem(`parley.lastChannel.${guildId}`);
    channelId = (text.find((c) => c.id === last) ?? text[0])?.id ?? null;
  }
  const changedGuild = guildId !== app.guildId;
  const changedChannel = channelId !== app.channelId;
  app.guildId = guildId;
  app.channelId = channelId;
  if (channelId) localStorage.setItem(`parley.lastChannel.${guildId}`, channelId);
  const path = channelPath(guildId, channelId);
  if (location.pathname !== path) history[replace ? 'replaceState' : 'pushState'](null, '', path);
  document.body.classList.remove('nav-open');
  $('[data-action=toggle-nav]').setAttribute('aria-expanded', 'false');
  if (changedChannel) {
    app.messages.show(channelId);
    app.composer.channelChanged(s.channels.get(channelId)?.name);
    if (!replace) app.composer.focus();
  }
  if (changedGuild || changedChannel) render('channels', 'typing', ...(changedGuild ? ['members', 'voice'] : []));
}

async function clickVoice(channelId) {
  const v = app.voice;
  if (!v) return;
  try {
    if (v.channelId === channelId) v.leave();
    else await v.join(app.guildId, channelId);
  } catch (error) {
    toast(`Could not join voice: ${error.message}`);
  }
  render('voice', 'voicectl');
  renderDevices(app);
}

// The session.

function onDispatch(t, d, local = false) {
  if (t === 'MESSAGE_CREATE' && d?.nonce != null) app.messages.removePending((p) => p.nonce === String(d.nonce));
  const changed = apply(app.state, t, d);
  if (!local) app.voice?.onDispatch(t, d);
  render(...changed);
}

function start(token) {
  localStorage.setItem(TOKEN_KEY, token);
  app.api.token = token;
  app.state = createState();
  $('#auth').hidden = true;
  $('#app').hidden = false;
  const gw = new Gateway({ url: gatewayURL(location), token });
  app.gw = gw;
  gw.addEventListener('dispatch', (e) => {
    if (e.detail.t === 'READY') {
      app.voice ??= newVoice(e.detail.d.user.id);
    }
    onDispatch(e.detail.t, e.detail.d);
  });
  gw.addEventListener('state', () => render('status'));
  gw.addEventListener('fatal', (e) => {
    if (e.detail.auth) signedOut('Your session has ended. Please sign in again.');
    else toast(`The server refused the connection (${e.detail.code}).`);
  });
  gw.connect();
  render('status');
}

function newVoice(userId) {
  const v = new VoiceSession({ gateway: app.gw, userId });
  v.addEventListener('change', (e) => {
    if (e.detail.speaking) render('speaking');
    else if (e.detail.video) render('video');
    else render('voice', 'voicectl', 'speaking');
  });
  v.addEventListener('status', (e) => {
    v.message = e.detail.message;
    v.link = e.detail.link ?? null;
    render('status');
  });
  v.addEventListener('notice', (e) => toast(e.detail.message));
  return v;
}

// signedOut returns to the sign-in view, with why.
function signedOut(message = '') {
  app.voice?.dispose(); // leaves, stops the microphone, the meter and the AudioContext
  app.voice = null;
  renderVideo(app); // the tiles go with the call
  app.gw?.close();
  app.gw = null;
  app.api.token = null;
  localStorage.removeItem(TOKEN_KEY);
  app.state = createState();
  app.guildId = app.channelId = null;
  app.wanted = null;
  app.volumeOpen = null;
  // Nothing of this user's is left for the next one: draft, queued files,
  // uploads and unsent messages.
  app.messages.reset();
  app.composer.reset();
  $('#app').hidden = true;
  $('#auth').hidden = false;
  $('#auth [role=alert]').textContent = message;
  if (location.pathname !== '/login') history.replaceState(null, '', '/login');
  document.title = 'Sign in — Parley';
  $('#auth [name=username]').focus();
}

// logout leaves voice and closes the gateway first (the server would
// close it with 4004 once the token is revoked), then revokes the token.
async function logout() {
  const token = app.api.token;
  signedOut('');
  if (!token) return;
  try {
    await new Api({ token }).post('/auth/logout');
  } catch {
    // Signed out here all the same; the token expires on the server.
  }
}

async function authenticate(register) {
  const form = $('#auth form');
  const alert = $('#auth [role=alert]');
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    alert.textContent = 'Enter a username and a password.';
    return;
  }
  if (register && password.length < 8) {
    alert.textContent = 'Choose a password of at least 8 characters.';
    return;
  }
  alert.textContent = '';
  for (const b of form.querySelectorAll('button')) b.disabled = true;
  try {
    const res = register
      ? await app.api.post('/auth/register', { username, password })
      : await app.api.post('/auth/login', { login: username, password });
    form.password.value = '';
    app.wanted = parsePath(location.pathname);
    start(res.token);
  } catch (error) {
    alert.textContent = error instanceof ApiError && error.status === 401 && !register
      ? 'Wrong username or password.' : error.message;
  } finally {
    for (const b of form.querySelectorAll('button')) b.disabled = false;
  }
}

function wire() {
  fillIcons();
  const form = $('#auth form');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    authenticate(e.submitter?.dataset.action === 'register');
  });
  $('#auth [data-action=register]').addEventListener('click', () => authenticate(true));
  $('[data-action=logout]').addEventListener('click', logout);
  const report = (what) => (error) => toast(`${what}: ${error.message}`);
  $('[data-action=mute]').addEventListener('click', () => app.voice?.setMute(!app.voice.selfMute).catch(report('Could not mute')));
  $('[data-action=deafen]').addEventListener('click', () => app.voice?.setDeaf(!app.voice.selfDeaf).catch(report('Could not deafen')));
  $('[data-action=camera]').addEventListener('click', () => app.voice?.setCamera(app.voice.camera === 'off').catch(report('Camera')));
  $('[data-action=leave-voice]').addEventListener('click', () => { app.voice?.leave(); render('voice', 'voicectl'); });
  $('[data-action=devices]').addEventListener('click', (e) => {
    const box = $('.vc-devices');
    box.hidden = !box.hidden;
    e.currentTarget.setAttribute('aria-expanded', String(!box.hidden));
    if (!box.hidden) renderDevices(app);
  });
  $('select[name=input-device]').addEventListener('change', (e) => app.voice?.setInputDevice(e.target.value).catch((error) => {
    report('Could not switch the microphone')(error);
    renderDevices(app); // the picker shows the microphone still in use
  }));
  $('select[name=output-device]').addEventListener('change', (e) => app.voice?.setOutputDevice(e.target.value).catch(report('Could not switch the speaker')));
  navigator.mediaDevices?.addEventListener?.('devicechange', () => renderDevices(app));
  const nav = $('[data-action=toggle-nav]');
  nav.addEventListener('click', () => {
    const open = document.body.classList.toggle('nav-open');
    nav.setAttribute('aria-expanded', String(open));
  });
  $('.scrim').addEventListener('click', () => { document.body.classList.remove('nav-open'); nav.setAttribute('aria-expanded', 'false'); });
  const members = $('[data-action=toggle-members]');
  // Pressed means the member list shows: by default in a wide window, only
  // when toggled in a narrow one (app.css's 1000 px breakpoint).
  const syncMembers = () => members.setAttribute('aria-pressed', String(getComputedStyle($('.members')).display !== 'none'));
  members.addEventListener('click', () => {
    document.body.classList.toggle('members-toggled');
    syncMembers();
  });
  matchMedia('(max-width: 1000px)').addEventListener('change', syncMembers);
  syncMembers();
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('nav-open')) {
      document.body.classList.remove('nav-open');
      nav.setAttribute('aria-expanded', 'false');
      nav.focus();
    }
  });
  window.addEventListener('popstate', () => {
    const p = parsePath(location.pathname);
    if (p.guildId && app.state.guilds.has(p.guildId)) select(p.guildId, p.channelId, true);
  });
  window.addEventListener('online', () => { app.gw?.reconnect(); render('status'); });
  window.addEventListener('offline', () => render('status'));
  window.addEventListener('pagehide', () => app.voice?.pagehide());
  setInterval(() => app.channelId && app.state.typing.size && render('typing'), 1000);
  app.messages = new MessageView(app);
  app.composer = new Composer(app);
}

window.parley = Object.freeze({
  state: () => ({
    signedIn: Boolean(app.state.me), user: app.state.me?.id ?? null, gateway: app.gw?.state ?? 'idle',
    guild: app.guildId, channel: app.channelId, status: $('#status')?.dataset.state ?? null,
    voice: app.voice ? { channel: app.voice.channelId, state: app.voice.state, selfMute: app.voice.selfMute,
      selfDeaf: app.voice.selfDeaf, micDenied: app.voice.micDenied, speaking: [...app.voice.speaking] } : null,
  }),
  voice: () => app.voice?.connection ?? null,
  heard: () => app.voice?.heard() ?? {},
  // e2ee: the voice call's end-to-end encryption as the page shows it
  // ({enabled, reason, state, codes}); dave: a promise of its DAVE state
  // (DaveClient.state(): epoch, codes, counters; never the client, whose
  // workers take key changes, or null).
  e2ee: () => (app.voice ? { ...app.voice.e2ee, codes: Object.fromEntries(app.voice.codes) } : null),
  dave: () => app.voice?.dave?.state() ?? null,
  // video: a promise of the cameras as the page has them: {camera (off,
  // starting, on), error, tiles [{user, self, width, height, playing}]
  // as drawn, stats (voice.js videoStats(): framesDecoded by SSRC and
  // user, framesEncoded by rid)}.
  video: async () => {
    const v = app.voice;
    if (!v) return null;
    const tiles = [...document.querySelectorAll('#video-grid [data-video-user]')].map((el) => {
      const video = el.querySelector('video');
      return { user: el.dataset.videoUser, self: el.classList.contains('self'), speaking: el.classList.contains('speaking'),
        width: video?.videoWidth ?? 0, height: video?.videoHeight ?? 0, playing: Boolean(video && !video.paused && video.readyState >= 2) };
    });
    const stats = v.connection ? await v.connection.videoStats() : { inbound: {}, outbound: {} };
    return { camera: v.camera, error: v.cameraError, tiles, stats };
  },
});

wire();
const saved = localStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
else signedOut('');
