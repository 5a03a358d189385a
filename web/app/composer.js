// composer.js: writing a message — Enter sends, Shift+Enter is a new
// line, Up edits one's last message; files picked, pasted or dropped wait
// in a list until sent (multipart, with progress); typing is announced at
// most every 8 s.

import { h, $ } from './dom.js';
import { icon } from './icons.js';
import { formatSize } from './urls.js';

const TYPING_EVERY = 8000;
// The server's attachment limits (parley serve --chat-max-files and
// --chat-max-file-bytes; these are its defaults, which the page cannot
// read). Checked before sending: a body over the limit is refused before
// it is read, which a browser reports as a network error.
const MAX_FILES = 10;
const MAX_FILE_BYTES = 25 * 1024 * 1024;

function nonce() {
  // Discord's nonces are snowflake-like numbers; 19 digits is within 25.
  return String(BigInt(Date.now() - 1420070400000) << 22n | BigInt(Math.floor(Math.random() * 4194304)));
}

export class Composer {
  #app; #form; #text; #input; #list; #error; #files = []; // {file, url}
  #typedAt = 0;
  #sentAt = 0; // when Enter sent: the newline some input methods still insert is dropped

  constructor(app) {
    this.#app = app;
    this.#form = $('#composer');
    this.#text = $('textarea', this.#form);
    this.#input = $('input[type=file]', this.#form);
    this.#list = $('.outbox', this.#form);
    this.#error = $('.composer-error', this.#form);
    this.#form.addEventListener('submit', (e) => { e.preventDefault(); this.send(); });
    this.#text.addEventListener('keydown', (e) => this.#key(e));
    this.#text.addEventListener('beforeinput', (e) => {
      const newline = e.inputType === 'insertLineBreak' || (e.inputType === 'insertText' && /^[\r\n]+$/.test(e.data ?? ''));
      if (newline && performance.now() - this.#sentAt < 250) e.preventDefault();
    });
    this.#text.addEventListener('input', () => { this.#grow(); this.#typing(); });
    this.#text.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.length) {
        e.preventDefault();
        this.add(files);
      }
    });
    this.#input.addEventListener('change', () => {
      this.add([...this.#input.files]);
      this.#input.value = '';
    });
    // A file dropped anywhere else would make the browser open it in this
    // tab, leaving the page (and the call).
    const files = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    document.addEventListener('dragover', (e) => {
      if (!files(e) || e.defaultPrevented) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'none';
    });
    document.addEventListener('drop', (e) => { if (files(e)) e.preventDefault(); });
    const zone = $('.chat');
    zone.addEventListener('dragover', (e) => {
      if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
      e.preventDefault();
      zone.classList.add('dropping');
    });
    zone.addEventListener('dragleave', (e) => { if (e.target === zone || !zone.contains(e.relatedTarget)) zone.classList.remove('dropping'); });
    zone.addEventListener('drop', (e) => {
      zone.classList.remove('dropping');
      const files = [...(e.dataTransfer?.files ?? [])];
      if (!files.length) return;
      e.preventDefault();
      this.add(files);
    });
  }

  /** channelChanged: a new channel is open (the draft and files are kept per page). */
  channelChanged(name) {
    this.#text.placeholder = name ? `Message #${name}` : 'Message';
    this.#showError('');
  }

  focus() { this.#text.focus(); }

  #key(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.#sentAt = performance.now();
      this.send();
    } else if (e.key === 'ArrowUp' && !this.#text.value && !this.#files.length) {
      if (this.#app.messages.editLast()) e.preventDefault();
    } else if (e.key === 'Escape' && this.#files.length && !this.#text.value) {
      this.clearFiles();
    }
  }

  #grow() {
    const t = this.#text;
    t.style.height = 'auto';
    // Not laid out (the page is hidden, signed out): its natural height.
    t.style.height = t.scrollHeight ? `${Math.min(t.scrollHeight, 240)}px` : '';
  }

  #typing() {
    const ch = this.#app.channelId;
    if (!ch || !this.#text.value.trim()) return;
    const now = Date.now();
    if (now - this.#typedAt < TYPING_EVERY) return;
    this.#typedAt = now;
    this.#app.api.post(`/channels/${ch}/typing`).catch(() => {});
  }

  #showError(msg) {
    this.#error.textContent = msg;
    this.#error.hidden = !msg;
  }

  /** add queues files to send with the next message (within the server's limits). */
  add(files) {
    const problems = [];
    const big = files.filter((f) => f.size > MAX_FILE_BYTES);
    if (big.length) {
      problems.push(big.length === 1
        ? `${big[0].name} is ${formatSize(big[0].size)}; files can be up to ${formatSize(MAX_FILE_BYTES)}.`
        : `${big.length} files are larger than ${formatSize(MAX_FILE_BYTES)}, the most a file can be.`);
    }
    const fit = files.filter((f) => f.size <= MAX_FILE_BYTES);
    const room = Math.max(0, MAX_FILES - this.#files.length);
    if (fit.length > room) problems.push(`You can send up to ${MAX_FILES} files at once.`);
    this.#showError(problems.join(' '));
    for (const file of fit.slice(0, room)) {
      const url = /^image\//.test(file.type) ? URL.createObjectURL(file) : null;
      this.#files.push({ file, url });
    }
    this.#drawFiles();
    this.#text.focus();
  }

  /** reset forgets the draft and the queued files (sign-out). */
  reset() {
    this.#text.value = '';
    this.#grow();
    this.clearFiles();
    this.#showError('');
    this.#typedAt = 0;
    this.#text.placeholder = 'Message';
  }

  clearFiles() {
    for (const f of this.#files) if (f.url) URL.revokeObjectURL(f.url);
    this.#files = [];
    this.#drawFiles();
  }

  #drawFiles() {
    this.#list.replaceChildren(...this.#files.map((f, i) => h('li', { class: 'pending-file' },
      f.url ? h('img', { src: f.url, alt: '', class: 'pending-thumb' }) : h('span', { class: 'pending-thumb file' }, icon('file')),
      h('span', { class: 'pending-name', title: f.file.name }, f.file.name),
      h('span', { class: 'att-size' }, formatSize(f.file.size)),
      h('button', {
        type: 'button', class: 'icon-btn', 'aria-label': `Remove ${f.file.name}`, title: 'Remove',
        onclick: () => {
          if (f.url) URL.revokeObjectURL(f.url);
          this.#files.splice(i, 1);
          this.#drawFiles();
          this.#text.focus();
        },
      }, icon('x')))));
    this.#list.hidden = this.#files.length === 0;
  }

  /** send posts the draft and the queued files. */
  send() {
    const ch = this.#app.channelId;
    const content = this.#text.value;
    const files = this.#files.map((f) => f.file);
    if (!ch || (!content.trim() && !files.length)) return;
    if (content.length > 2000) return this.#showError('Messages are limited to 2000 characters.');
    if (files.length > MAX_FILES || files.some((f) => f.size > MAX_FILE_BYTES)) {
      return this.#showError(`You can send up to ${MAX_FILES} files of ${formatSize(MAX_FILE_BYTES)} at once.`);
    }
    this.#showError('');
    this.#text.value = '';
    this.#grow();
    this.clearFiles();
    this.#typedAt = 0;
    const p = { nonce: nonce(), channelId: ch, content, files, progress: 0, error: null, el: null };
    p.retry = () => {
      p.error = null;
      p.progress = 0;
      this.#app.messages.updatePending(p);
      this.#post(p);
    };
    this.#app.messages.addPending(p);
    this.#post(p);
  }

  async #post(p) {
    const api = this.#app.api;
    const state = this.#app.state; // signed out meanwhile: the answer is not for this page any more
    const path = `/channels/${p.channelId}/messages`;
    const payload = { content: p.content, nonce: p.nonce };
    try {
      let msg;
      if (p.files.length) {
        const up = api.upload(path, payload, p.files, (f) => {
          p.progress = f;
          const bar = p.el?.querySelector('progress');
          if (bar) bar.value = f;
        });
        p.abort = up.abort;
        msg = await up.promise;
      } else {
        msg = await api.post(path, payload);
      }
      if (this.#app.state !== state) return;
      this.#app.messages.removePending((x) => x === p);
      if (msg?.id) this.#app.apply('MESSAGE_CREATE', msg);
    } catch (error) {
      if (this.#app.state !== state || error.aborted) return;
      p.error = error.message;
      this.#app.messages.updatePending(p);
    }
  }
}
