import test from 'node:test';
import assert from 'node:assert/strict';
import { e2eeDisabled, groupDigits, refusedMessage, e2eeView } from './e2ee.js';

const store = (v) => ({ getItem: (k) => (k === 'parley.e2ee' ? v : null) });

test('e2eeDisabled: the URL flag or the stored one', () => {
  assert.equal(e2eeDisabled('', store(null)), '');
  assert.equal(e2eeDisabled('?e2ee=on', store(null)), '');
  assert.match(e2eeDisabled('?x=1&e2ee=off', store(null)), /e2ee=off/);
  assert.match(e2eeDisabled('', store('off')), /parley\.e2ee=off/);
  assert.equal(e2eeDisabled('', { getItem() { throw new Error('denied'); } }), '');
});

test('groupDigits: groups of five', () => {
  assert.equal(groupDigits('123456789012345678901234567890'), '12345 67890 12345 67890 12345 67890');
  assert.equal(groupDigits('1'.repeat(45)).split(' ').length, 9);
  assert.equal(groupDigits(null), '');
});

test('refusedMessage', () => {
  assert.equal(refusedMessage('no encoded transforms'), 'This server requires end-to-end encryption, which this browser cannot do: no encoded transforms');
});

test('e2eeView: off, pending, on', () => {
  assert.equal(e2eeView({ enabled: false, reason: 'x' }).mode, 'off');
  assert.match(e2eeView({ enabled: false, reason: 'no transforms' }).detail, /no transforms/);
  assert.equal(e2eeView({ enabled: true, state: null }).mode, 'pending');
  assert.equal(e2eeView({ enabled: true, state: { protocol_version: 1, ready: false } }).mode, 'pending');
  const off = e2eeView({ enabled: true, state: { protocol_version: 0, ready: false } });
  assert.equal(off.mode, 'off');
  assert.match(off.detail, /cannot use end-to-end encryption/);
  const on = e2eeView({ enabled: true, state: { protocol_version: 1, ready: true, epoch: 3, privacy_code: '0'.repeat(30) } });
  assert.deepEqual([on.mode, on.title, on.code, on.epoch], ['on', 'End-to-end encrypted', '00000 00000 00000 00000 00000 00000', '3']);
});
