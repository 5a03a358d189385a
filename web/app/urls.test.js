// Node unit tests (node --test web/app/*.test.js; run by web/client_test.go).
import test from 'node:test';
import assert from 'node:assert/strict';
import { gatewayURL, resumeURL, voiceEndpoint, fitBox, thumbURL, channelPath, parsePath, formatSize } from './urls.js';

test('gatewayURL is on the page origin', () => {
  assert.equal(gatewayURL({ protocol: 'https:', host: 'chat.example:8443' }), 'wss://chat.example:8443/gateway?v=10&encoding=json');
  assert.equal(gatewayURL({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/gateway?v=10&encoding=json');
});

test('resumeURL', () => {
  const fb = 'wss://h:8443/gateway?v=10&encoding=json';
  for (const [name, in_, want] of [
    ['none', null, fb],
    ['garbage', 'not a url', fb],
    ['insecure from a secure page', 'ws://127.0.0.1:4001', fb],
    ['wss root gets the path', 'wss://other:9/', 'wss://other:9/gateway?v=10&encoding=json'],
    ['wss with a path', 'wss://other:9/gw?x=1', 'wss://other:9/gw?x=1&v=10&encoding=json'],
  ]) assert.equal(resumeURL(in_, fb), want, name);
  assert.equal(resumeURL('ws://127.0.0.1:4001', 'ws://127.0.0.1:4001/?v=10'), 'ws://127.0.0.1:4001/?v=10&encoding=json');
});

test('voiceEndpoint', () => {
  assert.equal(voiceEndpoint('voice.example:443'), 'voice.example:443');
  assert.equal(voiceEndpoint('wss://voice.example:443/?v=8'), 'voice.example:443');
  assert.equal(voiceEndpoint(null), '');
});

test('fitBox never upscales and keeps the ratio', () => {
  for (const [w, h, mw, mh, want] of [
    [800, 600, 400, 300, { width: 400, height: 300 }],
    [100, 50, 400, 300, { width: 100, height: 50 }],
    [300, 3000, 400, 300, { width: 30, height: 300 }],
    [4000, 10, 400, 300, { width: 400, height: 1 }],
    [0, 0, 400, 300, { width: 400, height: 300 }],
  ]) assert.deepEqual(fitBox(w, h, mw, mh), want, `${w}x${h}`);
});

test('thumbURL asks for the box at the device pixel ratio, capped by the source', () => {
  const u = new URL(thumbURL('https://h/media/attachments/1/2/a.png?ex=1&sig=x', { width: 200, height: 100 }, { width: 800, height: 400 }, 2));
  assert.equal(u.searchParams.get('width'), '400');
  assert.equal(u.searchParams.get('height'), '200');
  assert.equal(u.searchParams.get('sig'), 'x');
  const small = new URL(thumbURL('https://h/m/a.png', { width: 100, height: 50 }, { width: 120, height: 60 }, 2));
  assert.equal(small.searchParams.get('width'), '120');
  const r3 = new URL(thumbURL('https://h/m/a.png', { width: 100, height: 50 }, null, 3));
  assert.equal(r3.searchParams.get('width'), '200');
});

test('paths', () => {
  assert.equal(channelPath('1', '2'), '/channels/1/2');
  assert.equal(channelPath('1'), '/channels/1');
  assert.deepEqual(parsePath('/channels/12/34'), { guildId: '12', channelId: '34' });
  assert.deepEqual(parsePath('/channels/12'), { guildId: '12', channelId: null });
  assert.deepEqual(parsePath('/login'), { guildId: null, channelId: null });
  assert.deepEqual(parsePath('/channels/x/1'), { guildId: null, channelId: null });
});

test('formatSize', () => {
  assert.equal(formatSize(10), '10 B');
  assert.equal(formatSize(1536), '1.5 KB');
  assert.equal(formatSize(25 * 1024 * 1024), '25 MB');
});
