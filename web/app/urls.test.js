// Node unit tests (node --test web/app/*.test.js; run by web/client_test.go).
import test from 'node:test';
import assert from 'node:assert/strict';
import { gatewayURL, resumeURL, voiceEndpoint, voiceGatewayHost, voiceTrustURL, mediaURL, fitBox, thumbURL, channelPath, parsePath, formatSize } from './urls.js';

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

test('voiceGatewayHost', () => {
  const cases = [
    // [endpoint, fronted, pageHost, want]
    ['127.0.0.1:8444', '127.0.0.1:8444', '127.0.0.1:8443', '127.0.0.1:8443/voice'], // the node this origin fronts
    ['wss://Voice.Example:8444/?v=8', 'voice.example:8444', 'chat.example', 'chat.example/voice'],
    ['10.0.0.2:8444', '127.0.0.1:8444', '127.0.0.1:8443', '10.0.0.2:8444'], // another node of the fleet
    ['127.0.0.1:8444', '', '127.0.0.1:8443', '127.0.0.1:8444'], // the origin fronts none
    ['127.0.0.1:8444', null, '127.0.0.1:8443', '127.0.0.1:8444'],
    [null, '127.0.0.1:8444', '127.0.0.1:8443', ''],
    ['127.0.0.1:8444', '127.0.0.1:8444', '', '127.0.0.1:8444'],
  ];
  for (const [endpoint, fronted, pageHost, want] of cases) {
    assert.equal(voiceGatewayHost(endpoint, fronted, pageHost), want, `${endpoint} fronted ${fronted}`);
  }
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

test('voiceTrustURL: a link to accept the voice port\'s certificate, unless it is the page\'s', () => {
  for (const [name, endpoint, host, want] of [
    ['another port', '127.0.0.1:8443', '127.0.0.1:8080', 'https://127.0.0.1:8443/'],
    ['another host', 'voice.example:443', 'chat.example', 'https://voice.example/'],
    ['the page itself', 'chat.example:443', 'chat.example', null],
    ['same host and port', '127.0.0.1:8443', '127.0.0.1:8443', null],
    ['case', 'Chat.Example:8443', 'chat.example:8443', null],
    ['with a scheme', 'wss://v.example:9/?v=8', 'chat.example', 'https://v.example:9/'],
    ['nothing', '', 'chat.example', null],
    ['garbage', 'a b:c', 'chat.example', null],
  ]) assert.equal(voiceTrustURL(endpoint, host), want, name);
});

test('mediaURL moves /media/ URLs to the page origin, nothing else', () => {
  const o = 'https://127.0.0.1:8443';
  for (const [name, in_, want] of [
    ['other host', 'https://localhost:8443/media/attachments/1/2/a.png?ex=1&sig=x', 'https://127.0.0.1:8443/media/attachments/1/2/a.png?ex=1&sig=x'],
    ['public host, other port', 'https://203.0.113.5:9443/media/x/y.jpg?sig=z', 'https://127.0.0.1:8443/media/x/y.jpg?sig=z'],
    ['plain http media listener', 'http://127.0.0.1:4003/media/a.png?sig=1', 'https://127.0.0.1:8443/media/a.png?sig=1'],
    ['relative', '/media/a.png', 'https://127.0.0.1:8443/media/a.png'],
    ['already here', 'https://127.0.0.1:8443/media/a.png', 'https://127.0.0.1:8443/media/a.png'],
    ['not media', 'https://cdn.example/attachments/a.png', 'https://cdn.example/attachments/a.png'],
    ['media elsewhere in the path', 'https://h/x/media/a.png', 'https://h/x/media/a.png'],
    ['not http', 'data:image/png;base64,AAAA', 'data:image/png;base64,AAAA'],
    ['null', null, null],
  ]) assert.equal(mediaURL(in_, o), want, name);
});
