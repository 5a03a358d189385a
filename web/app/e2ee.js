// e2ee.js: what the page says about a voice call's end-to-end encryption
// (DAVE, through /dave/dave.js): whether this browser may use it, the
// texts of the voice panel's E2EE box, and the box itself. The text
// helpers are pure (unit tested in Node: e2ee.test.js); renderE2EE builds
// DOM. The interop browser harness renders the same box.

import { h } from './dom.js';
import { icon } from './icons.js';

export const E2EE_KEY = 'parley.e2ee';

/**
 * e2eeDisabled says why the page itself turned DAVE off ('' when it did
 * not): ?e2ee=off in the URL, or localStorage parley.e2ee=off.
 */
export function e2eeDisabled(search = globalThis.location?.search ?? '', storage = globalThis.localStorage) {
  if (new URLSearchParams(search).get('e2ee') === 'off') return 'end-to-end encryption is turned off on this page (?e2ee=off)';
  let v = null;
  try {
    v = storage?.getItem(E2EE_KEY);
  } catch {
    // storage refused (a privacy mode): not disabled
  }
  return v === 'off' ? 'end-to-end encryption is turned off in this browser (parley.e2ee=off)' : '';
}

/** groupDigits shows a code in groups of five digits, as Discord does. */
export function groupDigits(code) {
  return String(code ?? '').replace(/\D/g, '').match(/.{1,5}/g)?.join(' ') ?? '';
}

/** refusedMessage is the status after close 4017. */
export function refusedMessage(reason) {
  return `This server requires end-to-end encryption, which this browser cannot do: ${reason || 'unknown reason'}`;
}

/**
 * e2eeView is what the box shows, from the session's e2ee: {enabled
 * (a DaveClient was made), reason (why not), state (dave.state(), or
 * null before the first)}: {mode: 'on' | 'off' | 'pending', title,
 * detail, code (grouped), epoch}.
 */
export function e2eeView(e) {
  if (!e?.enabled) {
    return { mode: 'off', title: 'Not end-to-end encrypted', detail: `This browser cannot encrypt the call end to end: ${e?.reason || 'no DAVE support'}. The call is encrypted only to the server.` };
  }
  const st = e.state;
  if (st && st.protocol_version === 0) {
    return { mode: 'off', title: 'Not end-to-end encrypted', detail: 'Someone in this call cannot use end-to-end encryption: the call is encrypted only to the server.' };
  }
  if (!st || !st.ready || !st.privacy_code) {
    return { mode: 'pending', title: 'Setting up end-to-end encryption…', detail: '' };
  }
  return {
    mode: 'on', title: 'End-to-end encrypted', code: groupDigits(st.privacy_code), epoch: String(st.epoch),
    detail: 'Voice privacy code: everyone in the call sees the same one.',
  };
}

/**
 * renderE2EE fills box (the voice panel's E2EE part) from e, naming
 * members with name(userId); verify(userId) resolves the pairwise code
 * (45 digits) that the button of a member shows. codes: userId -> code
 * already shown (kept across redraws by the caller).
 */
export function renderE2EE(box, e, { me, name = (id) => id, verify, codes = new Map() } = {}) {
  const v = e2eeView(e);
  box.dataset.e2ee = v.mode;
  const head = h('div', { class: 'e2ee-head' },
    h('span', { class: `e2ee-icon ${v.mode}`, 'aria-hidden': 'true' }, icon(v.mode === 'on' ? 'lock' : 'unlock')),
    h('strong', { class: 'e2ee-title' }, v.title));
  const parts = [head];
  if (v.mode === 'on') {
    parts.push(
      h('div', { class: 'e2ee-code', 'aria-label': 'Voice privacy code' }, v.code),
      h('div', { class: 'e2ee-meta' }, h('span', {}, v.detail), ' ', h('span', { class: 'e2ee-epoch' }, `Epoch ${v.epoch}`)));
    const others = (e.state.members ?? []).map(String).filter((id) => id !== String(me));
    if (others.length && verify) {
      parts.push(h('ul', { class: 'e2ee-members', 'aria-label': 'Verify members' }, others.map((id) => {
        const code = codes.get(id);
        return h('li', { dataset: { e2eeMember: id } },
          h('span', { class: 'e2ee-name' }, name(id)),
          code
            ? h('output', { class: 'e2ee-pairwise', dataset: { pairwiseUser: id } }, groupDigits(code))
            : h('button', { type: 'button', class: 'e2ee-verify', dataset: { verifyUser: id }, onclick: () => verify(id) }, 'Verification code'));
      })));
    }
  } else if (v.detail) {
    parts.push(h('div', { class: 'e2ee-meta' }, v.detail));
  }
  box.replaceChildren(...parts);
}
