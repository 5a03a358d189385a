// voicesignal.js: the chat side of a voice session, a pure state machine
// (no DOM, no network; send and the timers are injected; unit tested in
// Node: voicesignal.test.js). It asks the chat gateway for a voice channel
// (op 4, through send) and pairs the answers, our VOICE_STATE_UPDATE (the
// voice session id) and then VOICE_SERVER_UPDATE (token, endpoint), into
// what a VoiceConnection needs (on.connect). The rules:
//
//   - One request at a time (pending); a newer one replaces it. An answer
//     for another channel answers an older request and is ignored; a
//     server update counts only once the pending request has its session
//     id (the server sends the state first) and only for its guild.
//   - Joining a channel of another guild leaves the old guild first: the
//     server keeps a voice state per guild.
//   - A request that could not go out (the chat gateway was down) goes on
//     RESUMED or READY. READY (a new chat session) asks again in any case:
//     the server may have ended the state with the old session; an answer
//     naming the live connection's session means nothing changed.
//   - A request unanswered for answerTimeout fails (on.failed), unless a
//     connection is live (it carries on).
//   - failed() (the connection closed for good) rejoins after a backoff:
//     leave, then join (a new session and token), unless by then a
//     connection is live again or a request is pending.
//   - The server ending our state ends the session (on.ended) unless a
//     request of ours is still unanswered (that end is of the state before
//     it: a rejoin's own leave, an old chat session's); a move by a
//     moderator changes the channel (on.moved) and connects there on the
//     server update that follows.
//
//   const sig = new VoiceSignal({ userId, send: (guildId, channelId) => gw.send(4, ...),
//     on: { connect(p), ended(), moved(), failed(message) } });
//   sig.join(g, c); sig.dispatch(t, d); sig.connected(); sig.failed(); sig.leave();

import { backoff } from './gateway.js';

export const ANSWER_TIMEOUT = 15000;

export class VoiceSignal {
  #o; #answer = null; #rejoin = null; #rejoins = 0;

  /**
   * userId: our user; send(guildId, channelId|null): sends op 4 and says
   * whether it went out; on: {connect({guildId, channelId, sessionId,
   * token, endpoint}), ended(), moved(), failed(message)}; timers:
   * {setTimeout, clearTimeout}; random: () => [0, 1); answerTimeout: ms.
   */
  constructor(opts) {
    const g = globalThis;
    this.#o = {
      on: {}, random: Math.random, answerTimeout: ANSWER_TIMEOUT,
      timers: { setTimeout: g.setTimeout.bind(g), clearTimeout: g.clearTimeout.bind(g) },
      ...opts,
    };
    this.guildId = null;
    this.channelId = null; // the channel we are in or joining (null: not in voice)
    this.pending = null; // {guildId, channelId, sessionId, server, sent, rejoin}
    this.live = null; // the connection handed out last and not failed: {guildId, channelId, sessionId}
  }

  /** join asks for a voice channel (or moves to it). */
  join(guildId, channelId) {
    this.#clear();
    this.#rejoins = 0;
    if (this.channelId && this.guildId !== guildId) this.#o.send(this.guildId, null);
    this.guildId = guildId;
    this.channelId = channelId;
    this.live = null;
    this.#request(false);
  }

  /** leave leaves the voice channel. */
  leave() {
    if (!this.channelId) return;
    this.#o.send(this.guildId, null);
    this.#reset();
  }

  /** update sends the current state again (self mute or deafen changed). */
  update() {
    if (this.channelId) this.#o.send(this.guildId, this.channelId);
  }

  /** connected: the connection handed out is up (the rejoin backoff starts over). */
  connected() {
    this.#rejoins = 0;
  }

  /**
   * failed: the live connection closed for good. It rejoins after a
   * backoff and returns the wait (ms), or null when not in voice.
   */
  failed() {
    if (!this.channelId) return null;
    this.live = null;
    const t = this.#o.timers;
    const wait = backoff(++this.#rejoins + 1, this.#o.random);
    t.clearTimeout(this.#rejoin);
    this.#rejoin = t.setTimeout(() => {
      this.#rejoin = null;
      if (!this.channelId || this.live || this.pending) return;
      this.#request(true);
    }, wait);
    return wait;
  }

  /** rejoinPending says whether a rejoin is scheduled (for tests and the debug surface). */
  get rejoinPending() { return this.#rejoin !== null; }

  /** dispatch follows the chat gateway's events. */
  dispatch(t, d) {
    switch (t) {
      case 'VOICE_STATE_UPDATE':
        return this.#state(d);
      case 'VOICE_SERVER_UPDATE': {
        const p = this.pending;
        if (!p?.sessionId || String(d?.guild_id) !== String(p.guildId)) return;
        p.server = d;
        return this.#maybeConnect();
      }
      case 'READY':
        if (!this.channelId) return;
        this.#o.timers.clearTimeout(this.#rejoin);
        this.#rejoin = null;
        return this.#request(false);
      case 'RESUMED':
        if (this.pending && !this.pending.sent) this.#send(this.pending);
    }
  }

  #state(d) {
    if (!d || String(d.user_id) !== String(this.#o.userId) || !this.channelId || String(d.guild_id) !== String(this.guildId)) return;
    const p = this.pending;
    if (!d.channel_id) {
      if (p && !p.sessionId) return; // the end of the state before our request
      this.#reset();
      this.#o.on.ended?.();
      return;
    }
    if (p) {
      if (String(d.channel_id) !== String(p.channelId)) return; // an answer to an older request
      const live = this.live;
      if (live && String(live.channelId) === String(d.channel_id) && live.sessionId === d.session_id) {
        this.pending = null; // no hand-off: the live connection carries on
        this.#stopAnswer();
        return;
      }
      p.sessionId = d.session_id;
      return this.#maybeConnect();
    }
    if (String(d.channel_id) !== String(this.channelId)) {
      // Moved by a moderator: the server update follows.
      this.channelId = d.channel_id;
      this.pending = { guildId: this.guildId, channelId: d.channel_id, sessionId: d.session_id, server: null, sent: true, rejoin: false };
      this.#armAnswer(this.pending);
      this.#o.on.moved?.();
    }
  }

  #request(rejoin) {
    this.pending = { guildId: this.guildId, channelId: this.channelId, sessionId: null, server: null, sent: false, rejoin };
    this.#send(this.pending);
  }

  #send(p) {
    if (p.rejoin) this.#o.send(p.guildId, null);
    p.sent = this.#o.send(p.guildId, p.channelId);
    if (p.sent) this.#armAnswer(p);
  }

  #armAnswer(p) {
    this.#stopAnswer();
    this.#answer = this.#o.timers.setTimeout(() => {
      this.#answer = null;
      if (this.pending !== p) return;
      this.pending = null;
      if (!this.live) this.#o.on.failed?.('The server did not answer the request to join voice.');
    }, this.#o.answerTimeout);
  }

  #stopAnswer() {
    this.#o.timers.clearTimeout(this.#answer);
    this.#answer = null;
  }

  #maybeConnect() {
    const p = this.pending;
    if (!p?.sessionId || !p.server) return;
    this.#clear();
    this.pending = null;
    this.live = { guildId: p.guildId, channelId: p.channelId, sessionId: p.sessionId };
    this.#o.on.connect?.({ guildId: p.guildId, channelId: p.channelId, sessionId: p.sessionId, token: p.server.token, endpoint: p.server.endpoint });
  }

  #clear() {
    this.#stopAnswer();
    this.#o.timers.clearTimeout(this.#rejoin);
    this.#rejoin = null;
  }

  #reset() {
    this.#clear();
    this.guildId = this.channelId = this.pending = this.live = null;
    this.#rejoins = 0;
  }
}
