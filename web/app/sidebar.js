// sidebar.js: the guild rail, the channel list (text channels with unread
// marks, voice channels with who is in them), the voice controls and the
// user panel; and the member list on the right.

import { h, $, avatar } from './dom.js';
import { icon } from './icons.js';
import { channelPath } from './urls.js';
import { guildChannels, voiceMembers, isUnread, displayName, statusOf, cmpId } from './store.js';
import { volumeOf, VoiceSession } from './voicesession.js';
import { renderE2EE } from './e2ee.js';
import { cameraButton } from './video.js';

// A volume slider held by the pointer must not be rebuilt under it (the
// drag would end): the channel list waits until it is released.
let dragging = null; // the app whose volume slider is held
function endDrag() {
  const app = dragging;
  dragging = null;
  if (app?.channelsDeferred) {
    app.channelsDeferred = false;
    renderChannels(app);
  }
}
document.addEventListener('pointerup', endDrag);
document.addEventListener('pointercancel', endDrag);

// keepFocus redraws root and puts the focus back on the equivalent element.
function keepFocus(root, draw) {
  const a = document.activeElement;
  const key = a && root.contains(a)
    ? ['data-channel-id', 'data-guild-id', 'data-volume-user', 'data-volume-toggle'].find((k) => a.hasAttribute(k))
    : null;
  const val = key && a.getAttribute(key);
  draw();
  if (key) root.querySelector(`[${key}="${CSS.escape(val)}"]`)?.focus();
}

export function renderGuilds(app) {
  const s = app.state;
  const ul = $('.guild-list');
  keepFocus(ul, () => {
    ul.replaceChildren(...[...s.guilds.values()].sort((a, b) => cmpId(a.id, b.id)).map((g) => {
      const unread = guildChannels(s, g.id, 0).some((c) => c.id !== app.channelId && isUnread(c, s.readState.get(c.id)));
      return h('li', {},
        h('a', {
          href: channelPath(g.id), class: `guild${g.id === app.guildId ? ' active' : ''}${unread ? ' unread' : ''}`,
          dataset: { guildId: g.id }, 'aria-label': g.name || 'Server', title: g.name || 'Server',
          'aria-current': g.id === app.guildId ? 'page' : false,
          onclick: (e) => { e.preventDefault(); app.select(g.id, null); },
        }, avatar(g.id, g.name || '?', 'guild-icon')));
    }));
  });
  const g = s.guilds.get(app.guildId);
  $('.guild-name h2').textContent = g?.name ?? '';
}

function voiceMember(app, st) {
  const s = app.state;
  const v = app.voice;
  const id = st.user_id;
  const name = displayName(s, app.guildId, id);
  const muted = st.self_mute || st.mute;
  const deaf = st.self_deaf || st.deaf;
  const me = id === s.me?.id;
  const open = app.volumeOpen === id;
  const li = h('li', {
    class: `voice-user${v?.speaking.has(id) ? ' speaking' : ''}`, dataset: { voiceUser: id },
    'data-muted': muted ? '' : false, 'data-deafened': deaf ? '' : false,
  },
  avatar(id, name, 'small'),
  h('span', { class: 'voice-name' }, name),
  muted ? h('span', { class: 'vicon', title: 'Muted', role: 'img', 'aria-label': 'muted' }, icon('micOff')) : null,
  deaf ? h('span', { class: 'vicon', title: 'Deafened', role: 'img', 'aria-label': 'deafened' }, icon('headphonesOff')) : null);
  if (!me) {
    const pct = volumeOf(id);
    const label = h('output', { class: 'vol-value' }, `${pct}%`);
    li.append(
      h('button', {
        type: 'button', class: 'icon-btn vol-toggle', dataset: { volumeToggle: id }, 'aria-expanded': String(open),
        'aria-label': `Volume of ${name}`, title: 'Volume',
        onclick: () => { app.volumeOpen = open ? null : id; app.render('channels'); },
      }, icon('speaker')),
      h('div', { class: 'vol-pop', hidden: !open },
        h('label', {}, `${name}’s volume`,
          h('input', {
            type: 'range', min: '0', max: '200', step: '5', value: String(pct), dataset: { volumeUser: id },
            'aria-label': `Volume of ${name}`,
            onpointerdown: () => { dragging = app; },
            oninput: (e) => { label.textContent = `${e.target.value}%`; app.voice?.setVolume(id, e.target.value) ?? localStorage.setItem(`parley.volume.${id}`, e.target.value); },
            onkeydown: (e) => { if (e.key === 'Escape') { app.volumeOpen = null; app.render('channels'); } },
          })),
        label));
  }
  return li;
}

export function renderChannels(app) {
  if (dragging === app) {
    app.channelsDeferred = true;
    return;
  }
  const s = app.state;
  const root = $('.channels');
  const gid = app.guildId;
  keepFocus(root, () => {
    const text = guildChannels(s, gid, 0).map((c) => {
      const unread = c.id !== app.channelId && isUnread(c, s.readState.get(c.id));
      return h('li', {},
        h('a', {
          href: channelPath(gid, c.id), class: `channel text${c.id === app.channelId ? ' active' : ''}${unread ? ' unread' : ''}`,
          dataset: { channelId: c.id, channelType: '0' }, 'aria-current': c.id === app.channelId ? 'page' : false,
          'aria-label': `${c.name}${unread ? ' (unread)' : ''}`,
          onclick: (e) => { e.preventDefault(); app.select(gid, c.id); },
        }, h('span', { class: 'chan-icon' }, icon('hash')), h('span', { class: 'chan-name' }, c.name)));
    });
    const voice = guildChannels(s, gid, 2).map((c) => {
      const inIt = app.voice?.channelId === c.id;
      const members = voiceMembers(s, gid, c.id).sort((a, b) => displayName(s, gid, a.user_id).localeCompare(displayName(s, gid, b.user_id)));
      return h('li', {},
        h('button', {
          type: 'button', class: `channel voice${inIt ? ' active' : ''}`, dataset: { channelId: c.id, channelType: '2' },
          'aria-pressed': String(inIt), 'aria-label': inIt ? `Leave ${c.name}` : `Join voice ${c.name}`,
          onclick: () => app.clickVoice(c.id),
        }, h('span', { class: 'chan-icon' }, icon('speaker')), h('span', { class: 'chan-name' }, c.name)),
        members.length ? h('ul', { class: 'voice-users', 'aria-label': `In ${c.name}` }, members.map((st) => voiceMember(app, st))) : null);
    });
    root.replaceChildren(
      h('h3', { class: 'cat' }, 'Text channels'), h('ul', { class: 'chan-list' }, text),
      h('h3', { class: 'cat' }, 'Voice channels'), h('ul', { class: 'chan-list' }, voice));
  });
}

/** renderSpeaking updates only the speaking rings (often, cheaply): avatars and video tiles. */
export function renderSpeaking(app) {
  for (const el of document.querySelectorAll('[data-voice-user], [data-video-user]')) {
    el.classList.toggle('speaking', Boolean(app.voice?.speaking.has(el.dataset.voiceUser ?? el.dataset.videoUser)));
  }
}

export function renderVoiceControls(app) {
  const v = app.voice;
  const box = $('#voice-controls');
  const on = Boolean(v?.channelId);
  box.hidden = !on;
  if (!on) return;
  const c = app.state.channels.get(v.channelId);
  const g = app.state.guilds.get(v.guildId);
  const title = { connected: 'Voice connected', failed: 'Voice failed', reconnecting: 'Reconnecting…' }[v.state] ?? 'Connecting…';
  const s = app.state;
  renderE2EE($('.vc-e2ee', box), v.e2ee, {
    me: s.me?.id, name: (id) => displayName(s, v.guildId, id), codes: v.codes,
    verify: (id) => v.pairwise(id).catch(() => {}),
  });
  const t = $('.vc-title', box);
  t.textContent = title;
  t.className = `vc-title ${v.state}`;
  $('.vc-where', box).textContent = `${c?.name ?? ''} / ${g?.name ?? ''}`;
  const mute = $('[data-action=mute]', box);
  mute.setAttribute('aria-pressed', String(v.selfMute));
  mute.setAttribute('aria-label', v.selfMute ? 'Unmute' : 'Mute');
  mute.title = v.selfMute ? 'Unmute' : 'Mute';
  mute.replaceChildren(icon(v.selfMute || v.selfDeaf ? 'micOff' : 'mic')); // deafened is muted too
  mute.classList.toggle('implied', v.selfDeaf && !v.selfMute);
  const deaf = $('[data-action=deafen]', box);
  deaf.setAttribute('aria-pressed', String(v.selfDeaf));
  deaf.setAttribute('aria-label', v.selfDeaf ? 'Undeafen' : 'Deafen');
  deaf.title = v.selfDeaf ? 'Undeafen' : 'Deafen';
  deaf.replaceChildren(icon(v.selfDeaf ? 'headphonesOff' : 'headphones'));
  const cb = cameraButton(v.camera, VoiceSession.cameraAvailable());
  const cam = $('[data-action=camera]', box);
  cam.setAttribute('aria-pressed', String(cb.pressed));
  cam.setAttribute('aria-label', cb.label);
  cam.title = cb.title;
  cam.disabled = cb.disabled;
  cam.toggleAttribute('aria-busy', cb.busy);
  cam.replaceChildren(icon(cb.icon));
  // A live region: written only when it changes, or screen readers repeat it.
  const err = $('.vc-camera-error', box);
  if (err.textContent !== v.cameraError) err.textContent = v.cameraError;
}

/** renderDevices fills the device pickers (labels appear once the mic is allowed). */
export async function renderDevices(app) {
  let devices = [];
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  const fill = (sel, kind, current, fallback) => {
    const list = devices.filter((d) => d.kind === kind && d.deviceId);
    const opts = [h('option', { value: '' }, 'Default')];
    list.forEach((d, i) => d.deviceId !== 'default' && opts.push(h('option', { value: d.deviceId }, d.label || `${fallback} ${i + 1}`)));
    sel.replaceChildren(...opts);
    sel.value = list.some((d) => d.deviceId === current) ? current : '';
  };
  fill($('select[name=input-device]'), 'audioinput', app.voice?.inputDevice ?? '', 'Microphone');
  const out = $('select[name=output-device]');
  // Without AudioContext.setSinkId or HTMLMediaElement.setSinkId the choice would do nothing.
  out.closest('label').hidden = !VoiceSession.outputSelectable();
  fill(out, 'audiooutput', app.voice?.outputDevice ?? '', 'Speaker');
}

export function renderMembers(app) {
  const s = app.state;
  const gid = app.guildId;
  const members = [...(s.members.get(gid)?.values() ?? [])];
  const byName = (a, b) => displayName(s, gid, a.user.id).localeCompare(displayName(s, gid, b.user.id));
  const online = members.filter((m) => statusOf(s, m.user.id) !== 'offline').sort(byName);
  const offline = members.filter((m) => statusOf(s, m.user.id) === 'offline').sort(byName);
  const item = (m) => {
    const st = statusOf(s, m.user.id);
    const name = displayName(s, gid, m.user.id);
    return h('li', { class: `member ${st}`, dataset: { memberId: m.user.id, status: st } },
      h('span', { class: 'avatar-wrap' }, avatar(m.user.id, name), h('span', { class: `dot ${st}`, title: st, 'aria-label': st })),
      h('span', { class: 'member-name' }, name),
      m.user.bot ? h('span', { class: 'bot-tag' }, 'BOT') : null);
  };
  const group = (title, list) => list.length
    ? [h('h3', { class: 'cat' }, `${title} — ${list.length}`), h('ul', { class: 'member-list' }, list.map(item))] : [];
  $('.member-groups').replaceChildren(...group('Online', online), ...group('Offline', offline));
}

export function renderUserPanel(app) {
  const me = app.state.me;
  if (!me) return;
  $('.me-name').textContent = me.global_name || me.username;
  $('.me-avatar').replaceWith(avatar(me.id, me.username, 'me-avatar'));
}
