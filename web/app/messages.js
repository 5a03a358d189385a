// messages.js: the message list of the open text channel — history on
// scroll (before=), live updates, grouping by author, inline edit and
// delete of one's own messages, image thumbnails through the media proxy
// with their box reserved, the lightbox, and read acks at the bottom.

import { h, $, avatar } from './dom.js';
import { icon } from './icons.js';
import { render as renderMarkdown } from './markdown.js';
import { fitBox, thumbURL, formatSize, mediaURL } from './urls.js';
import { messagesOf, addHistory, displayName, snowflakeTime, markRead, isUnread, cmpId } from './store.js';

const PAGE = 50;
const GROUP_MS = 7 * 60 * 1000;

function isImage(a) {
  return /^image\//.test(a?.content_type ?? '') && a.width > 0 && a.height > 0 && (a.proxy_url || a.url);
}

// here puts an attachment URL on this page's origin (urls.js mediaURL).
const here = (url) => mediaURL(url, location.origin);

function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = (day(now) - day(d)) / 86400000;
  if (diff === 0) return `Today at ${time}`;
  if (diff === 1) return `Yesterday at ${time}`;
  return `${d.toLocaleDateString()} ${time}`;
}

export class MessageView {
  #app; #el; #channel = null; #rows = new Map(); // id -> {msg, head, editing, el}
  #loads = new Map(); // `${session}:${channelId}:${before}` -> the request in flight
  #failed = new Map(); // channelId -> the error of its last failed load (a retry is offered)
  #ackTimer = null; #pending = []; // {nonce, channelId, content, files, progress, error, abort, retry}

  constructor(app) {
    this.#app = app;
    this.#el = $('#messages');
    this.#el.addEventListener('scroll', () => this.#onScroll(), { passive: true });
    const box = $('#lightbox');
    box.addEventListener('click', (e) => e.target === box && box.close());
    box.addEventListener('close', () => $('img', box).removeAttribute('src'));
    document.addEventListener('visibilitychange', () => this.#scheduleAck());
    window.addEventListener('focus', () => this.#scheduleAck());
  }

  get channelId() { return this.#channel; }

  atBottom() {
    const e = this.#el;
    return e.scrollHeight - e.scrollTop - e.clientHeight < 40;
  }

  /** show switches to a channel: history loads if needed, the view sits at the bottom. */
  async show(channelId) {
    this.#channel = channelId;
    this.#rows.clear();
    this.#el.replaceChildren();
    this.#app.editing = null;
    if (!channelId) return;
    const session = this.#session();
    this.#failed.delete(channelId); // coming back to a channel tries again
    this.draw(true);
    if (!messagesOf(this.#app.state, channelId).loaded) await this.#load(channelId, null);
    // Still this channel, and still this session's store (a READY may have
    // reset it meanwhile: that one shows the channel again itself).
    if (this.#channel === channelId && this.#session() === session) {
      this.draw(true);
      this.#scheduleAck();
    }
  }

  // load fetches a page of history (the newest without before): one
  // request per channel and page at a time, shared by whoever asks; a
  // failure leaves the cache as it was and offers a retry.
  #load(channelId, before) {
    const session = this.#session();
    const key = `${session}:${channelId}:${before ?? ''}`;
    let p = this.#loads.get(key);
    if (p) return p;
    const state = this.#app.state;
    p = (async () => {
      try {
        const q = before ? `?before=${before}&limit=${PAGE}` : `?limit=${PAGE}`;
        const page = await this.#app.api.get(`/channels/${channelId}/messages${q}`);
        if (this.#session() !== session) return; // signed out, or a new session: stale
        addHistory(state, channelId, page ?? [], PAGE);
        this.#failed.delete(channelId);
      } catch (error) {
        if (this.#session() !== session) return;
        this.#failed.set(channelId, error.message);
        if (this.#channel === channelId) this.draw(false);
      } finally {
        if (this.#loads.get(key) === p) this.#loads.delete(key);
      }
    })();
    this.#loads.set(key, p);
    return p;
  }

  // session names the store's chat session: a READY (a new session) or a
  // sign-out makes what was loaded or asked for before it stale.
  // (Session ids are unique; a signed-out store has none.)
  #session() {
    return String(this.#app.state.sessionId);
  }

  #loadingOlder(channelId) {
    const prefix = `${this.#session()}:${channelId}:`;
    for (const k of this.#loads.keys()) if (k.startsWith(prefix) && k !== prefix) return true;
    return false;
  }

  #retry() {
    const ch = this.#channel;
    if (!ch) return;
    this.#failed.delete(ch);
    const m = messagesOf(this.#app.state, ch);
    if (!m.loaded) {
      this.show(ch);
      return;
    }
    this.draw(false);
    this.#older();
  }

  #older() {
    const m = this.#channel && this.#app.state.messages.get(this.#channel);
    if (!m || !m.loaded || m.complete || !m.list.length || this.#failed.has(this.#channel) || this.#loadingOlder(this.#channel)) return;
    const ch = this.#channel;
    const fromBottom = this.#el.scrollHeight - this.#el.scrollTop;
    this.#load(ch, m.list[0].id).then(() => {
      if (this.#channel !== ch) return;
      this.draw(false);
      this.#el.scrollTop = this.#el.scrollHeight - fromBottom; // stay where the reader was
    });
  }

  #onScroll() {
    if (this.#el.scrollTop < 300) this.#older();
    if (this.atBottom()) this.#scheduleAck();
  }

  /** reset forgets everything of the signed-out user's: unsent messages (uploads aborted), loads, the view. */
  reset() {
    for (const p of this.#pending) p.abort?.();
    this.#pending = [];
    this.#loads.clear();
    this.#failed.clear();
    clearTimeout(this.#ackTimer);
    this.show(null);
  }

  /** draw brings the list up to date; stick keeps it at the bottom. */
  draw(stick = this.atBottom()) {
    const s = this.#app.state;
    const ch = this.#channel;
    if (!ch) return;
    const m = messagesOf(s, ch);
    const nodes = [];
    const c = s.channels.get(ch);
    if (m.complete) {
      nodes.push(this.#intro ??= h('div', { class: 'intro' }));
      this.#intro.replaceChildren(h('div', { class: 'intro-icon' }, icon('hash')),
        h('h2', {}, `Welcome to #${c?.name ?? ''}`), h('p', {}, `This is the start of the #${c?.name ?? ''} channel.`));
    } else if (this.#failed.has(ch)) {
      nodes.push(this.#loadFailed ??= h('div', { class: 'loading-more failed', role: 'alert' }));
      this.#loadFailed.replaceChildren(`Could not load messages: ${this.#failed.get(ch)} `,
        h('button', { type: 'button', class: 'link', onclick: () => this.#retry() }, 'Retry'));
    } else {
      nodes.push(this.#more ??= h('div', { class: 'loading-more' }, 'Loading messages…'));
    }
    const seen = new Set();
    let prev = null;
    for (const msg of m.list) {
      const head = !prev || prev.author?.id !== msg.author?.id || snowflakeTime(msg.id) - snowflakeTime(prev.id) > GROUP_MS ||
        msg.type !== 0 || Boolean(msg.referenced_message);
      const editing = this.#app.editing === msg.id;
      let row = this.#rows.get(msg.id);
      if (!row || row.msg !== msg || row.head !== head || row.editing !== editing) {
        row = { msg, head, editing, el: this.#message(msg, head, editing) };
        this.#rows.set(msg.id, row);
      }
      seen.add(msg.id);
      nodes.push(row.el);
      prev = msg;
    }
    for (const id of this.#rows.keys()) if (!seen.has(id)) this.#rows.delete(id);
    for (const p of this.#pending) if (p.channelId === ch) nodes.push(p.el ??= this.#pendingEl(p));
    // Move only what is out of place (images already shown stay as they are).
    nodes.forEach((n, i) => {
      if (this.#el.children[i] !== n) this.#el.insertBefore(n, this.#el.children[i] ?? null);
    });
    while (this.#el.children.length > nodes.length) this.#el.lastElementChild.remove();
    if (stick) this.#el.scrollTop = this.#el.scrollHeight;
  }
  #intro = null; #more = null; #loadFailed = null;

  #name(id) {
    return displayName(this.#app.state, this.#app.guildId, id);
  }

  #message(msg, head, editing) {
    const app = this.#app;
    const author = msg.author ?? { id: '0', username: 'unknown' };
    const mine = author.id === app.state.me?.id;
    const name = this.#name(author.id);
    const content = h('div', { class: 'content' });
    if (editing) {
      const box = h('textarea', { class: 'edit-box', 'aria-label': 'Edit message', rows: '1', maxlength: '2000' });
      box.value = msg.content ?? '';
      box.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey) {
          e.preventDefault();
          this.#saveEdit(msg, box.value);
        } else if (e.key === 'Escape') {
          e.preventDefault();
          this.stopEdit();
        }
      });
      content.append(box, h('p', { class: 'edit-hint' }, 'Escape to cancel • Enter to save'));
      queueMicrotask(() => { box.focus(); box.setSelectionRange(box.value.length, box.value.length); });
    } else {
      renderMarkdown(content, msg.content ?? '', (id) => this.#name(id));
      if (msg.edited_timestamp) content.append(h('span', { class: 'edited', title: when(msg.edited_timestamp) }, ' (edited)'));
    }
    const atts = (msg.attachments ?? []).map((a) => this.#attachment(a));
    const actions = mine && !editing ? h('div', { class: 'msg-actions' },
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Edit message', title: 'Edit', dataset: { action: 'edit' },
        onclick: () => this.startEdit(msg.id) }, icon('edit')),
      h('button', { type: 'button', class: 'icon-btn danger', 'aria-label': 'Delete message', title: 'Delete', dataset: { action: 'delete' },
        onclick: () => this.#delete(msg) }, icon('trash'))) : null;
    const time = h('time', { datetime: msg.timestamp, title: new Date(msg.timestamp).toLocaleString() }, when(msg.timestamp));
    return h('article', {
      class: `msg${head ? ' head' : ''}${mine ? ' mine' : ''}`, dataset: { messageId: msg.id, authorId: author.id },
      'aria-label': `${name}: ${msg.content ?? ''}`.slice(0, 200),
    },
    head ? avatar(author.id, name) : h('span', { class: 'gutter' }, new Date(msg.timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
    h('div', { class: 'msg-body' },
      head ? h('header', {}, h('span', { class: 'author' }, name), author.bot ? h('span', { class: 'bot-tag' }, 'BOT') : null, time) : null,
      content,
      atts.length ? h('div', { class: 'attachments' }, atts) : null),
    actions);
  }

  #attachment(a) {
    if (isImage(a)) {
      const max = Math.max(120, Math.min(400, this.#el.clientWidth - 96));
      const box = fitBox(a.width, a.height, max, 300);
      const src = thumbURL(here(a.proxy_url || a.url), box, a, window.devicePixelRatio);
      const img = h('img', {
        class: 'attachment', src, width: String(box.width), height: String(box.height), alt: a.filename ?? 'image',
        decoding: 'async',
      });
      img.addEventListener('error', () => img.classList.add('broken'), { once: true });
      return h('button', {
        type: 'button', class: 'att-image', 'aria-label': `Open image ${a.filename ?? ''}`,
        onclick: () => this.#lightbox(a),
      }, img);
    }
    return h('a', { class: 'att-file', href: here(a.url || a.proxy_url), download: a.filename ?? true, rel: 'noopener', target: '_blank' },
      icon('file'), h('span', { class: 'att-name' }, a.filename ?? 'file'), h('span', { class: 'att-size' }, formatSize(a.size)));
  }

  #lightbox(a) {
    const box = $('#lightbox');
    const img = $('img', box);
    img.alt = a.filename ?? 'image';
    img.width = a.width;
    img.height = a.height;
    img.src = here(a.proxy_url || a.url);
    const open = $('.lightbox-open', box);
    open.href = here(a.url || a.proxy_url);
    box.showModal();
  }

  startEdit(id) {
    this.#app.editing = id;
    this.draw(false);
  }

  stopEdit() {
    this.#app.editing = null;
    this.draw(false);
    $('#composer textarea').focus();
  }

  /** editLast edits one's newest message in this channel (Up arrow). */
  editLast() {
    const list = messagesOf(this.#app.state, this.#channel).list;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].author?.id === this.#app.state.me?.id) return this.startEdit(list[i].id), true;
    }
    return false;
  }

  async #saveEdit(msg, content) {
    if (content === msg.content) return this.stopEdit();
    if (!content.trim() && !(msg.attachments ?? []).length) return this.#delete(msg);
    try {
      const m = await this.#app.api.patch(`/channels/${msg.channel_id}/messages/${msg.id}`, { content });
      this.#app.state.messages.get(msg.channel_id) && this.#app.apply('MESSAGE_UPDATE', m);
      this.stopEdit();
    } catch (error) {
      this.#app.toast(`Could not edit: ${error.message}`);
    }
  }

  async #delete(msg) {
    try {
      await this.#app.api.delete(`/channels/${msg.channel_id}/messages/${msg.id}`);
      this.#app.apply('MESSAGE_DELETE', { id: msg.id, channel_id: msg.channel_id });
    } catch (error) {
      this.#app.toast(`Could not delete: ${error.message}`);
    }
  }

  // Pending sends, shown until the server's MESSAGE_CREATE (same nonce).

  addPending(p) {
    this.#pending.push(p);
    this.draw(true);
  }

  updatePending(p) {
    const fresh = this.#pendingEl(p);
    p.el?.replaceWith(fresh);
    p.el = fresh;
  }

  removePending(pred) {
    const gone = this.#pending.filter(pred);
    if (!gone.length) return;
    this.#pending = this.#pending.filter((p) => !pred(p));
    for (const p of gone) p.el?.remove();
  }

  #pendingEl(p) {
    const me = this.#app.state.me;
    const name = this.#name(me?.id);
    const body = h('div', { class: 'msg-body' }, h('header', {}, h('span', { class: 'author' }, name), h('time', {}, p.error ? 'Not sent' : 'Sending…')));
    const content = h('div', { class: 'content' });
    renderMarkdown(content, p.content, (id) => this.#name(id));
    body.append(content);
    if (p.files.length) {
      body.append(h('div', { class: 'pending-files' }, p.files.map((f) => h('span', { class: 'att-file' }, icon('file'), f.name, ' ', h('span', { class: 'att-size' }, formatSize(f.size))))));
      if (!p.error) {
        body.append(h('progress', { max: '1', value: String(p.progress ?? 0), 'aria-label': 'Upload progress' }));
      }
    }
    if (p.error) {
      body.append(h('p', { class: 'send-error', role: 'alert' }, p.error, ' ',
        h('button', { type: 'button', class: 'link', onclick: () => p.retry() }, 'Retry'), ' ',
        h('button', { type: 'button', class: 'link', onclick: () => this.removePending((x) => x === p) }, 'Dismiss')));
    }
    return h('article', { class: `msg head pending${p.error ? ' failed' : ''}`, dataset: { nonce: p.nonce } }, avatar(me?.id, name), body);
  }

  // Read acks: the newest message is read once it is on screen.

  #scheduleAck() {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = setTimeout(() => this.#ack(), 300);
  }

  #ack() {
    const s = this.#app.state;
    const ch = this.#channel;
    const c = ch && s.channels.get(ch);
    if (!c || !this.#app.api.token || document.visibilityState !== 'visible' || !this.atBottom()) return;
    // Only what was shown is read: not while the history is loading or failed to.
    if (!s.messages.get(ch)?.loaded) return;
    const list = s.messages.get(ch).list;
    const last = list.length ? list[list.length - 1].id : c.last_message_id;
    if (!last || !isUnread({ ...c, last_message_id: last }, s.readState.get(ch))) return;
    const newest = c.last_message_id && cmpId(c.last_message_id, last) > 0 ? c.last_message_id : last;
    markRead(s, ch, newest);
    this.#app.render('channels');
    if (s.acks) this.#app.api.post(`/channels/${ch}/messages/${newest}/ack`, { token: null }).catch(() => {});
  }

  /** changed: the channel's messages changed (a dispatch). */
  changed() {
    const stick = this.atBottom();
    this.draw(stick);
    if (stick) this.#scheduleAck();
  }
}
