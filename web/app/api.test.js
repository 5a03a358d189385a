import test from 'node:test';
import assert from 'node:assert/strict';
import { Api, ApiError, errorMessage } from './api.js';

test('errorMessage', () => {
  for (const [status, body, want] of [
    [0, null, 'Cannot reach the server. Check your connection.'],
    [413, { message: 'Request entity too large', code: 40005 }, 'That file is too large for this server.'],
    [429, { retry_after: 1.2 }, 'You are doing that too fast. Try again in 2 s.'],
    [400, { code: 50035, message: 'Invalid Form Body', errors: { username: { _errors: [{ code: 'USERNAME_ALREADY_TAKEN', message: 'Username is unavailable.' }] } } }, 'username: Username is unavailable.'],
    [400, { code: 50035, errors: { files: { 0: { _errors: [{ message: 'HEIC images cannot be decoded here' }] } } } }, 'files: HEIC images cannot be decoded here'],
    [403, { message: 'Missing Access', code: 50001 }, 'Missing Access'],
    [401, null, 'Your session has ended. Please sign in again.'],
    [502, null, 'The server had a problem (502). Try again.'],
  ]) assert.equal(errorMessage(status, body), want, `${status}`);
});

function fakeFetch(status, body) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, init });
    return { ok: status < 300, status, text: async () => (body === undefined ? '' : JSON.stringify(body)) };
  };
  return { f, calls };
}

test('Api sends the token and decodes', async () => {
  const { f, calls } = fakeFetch(200, { id: '1' });
  const api = new Api({ token: 'tok', fetchImpl: f });
  assert.deepEqual(await api.post('/x', { a: 1 }), { id: '1' });
  assert.equal(calls[0].url, '/api/v10/x');
  assert.equal(calls[0].init.headers.Authorization, 'tok');
  assert.equal(calls[0].init.body, '{"a":1}');
});

test('Api: 401 with a token signs out once; errors are ApiErrors', async () => {
  let out = 0;
  const { f } = fakeFetch(401, { message: '401: Unauthorized', code: 0 });
  const api = new Api({ token: 'tok', fetchImpl: f, onUnauthorized: () => out++ });
  await assert.rejects(api.get('/users/@me'), (e) => e instanceof ApiError && e.status === 401);
  assert.equal(out, 1);
  api.token = null;
  await assert.rejects(api.post('/auth/login', {}), ApiError);
  assert.equal(out, 1, 'a failed login is not a lost session');
});

test('Api: network failure', async () => {
  const api = new Api({ fetchImpl: async () => { throw new TypeError('failed'); } });
  await assert.rejects(api.get('/x'), (e) => e.status === 0);
});

test('Api: a late 401 for a replaced token does not sign the new user out', async () => {
  let out = 0;
  let answer;
  const api = new Api({
    token: 'old', onUnauthorized: () => out++,
    fetchImpl: () => new Promise((resolve) => { answer = resolve; }),
  });
  const req = api.get('/users/@me');
  api.token = 'new'; // signed out and in again while the request was out
  answer({ ok: false, status: 401, text: async () => '' });
  await assert.rejects(req, (e) => e.status === 401);
  assert.equal(out, 0);
});
