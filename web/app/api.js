// api.js: the chat REST API (Discord-shaped, /api/v10), with errors turned
// into sentences a person can read.

import { API_BASE } from './urls.js';

/** ApiError is a failed request: status (0 for the network), Discord's code, the body. */
export class ApiError extends Error {
  constructor(status, body, fallback) {
    super(errorMessage(status, body, fallback));
    this.name = 'ApiError';
    this.status = status;
    this.code = body?.code ?? 0;
    this.body = body;
  }
}

// firstFieldError finds the first {_errors: [{message}]} in Discord's
// nested form errors, with its field path.
function firstFieldError(errors, path = []) {
  if (!errors || typeof errors !== 'object') return null;
  if (Array.isArray(errors._errors) && errors._errors.length) {
    return { path, message: String(errors._errors[0]?.message ?? '') };
  }
  for (const [k, v] of Object.entries(errors)) {
    if (k === '_errors') continue;
    const f = firstFieldError(v, [...path, k]);
    if (f) return f;
  }
  return null;
}

/** errorMessage is what to tell a person about a failed request. */
export function errorMessage(status, body, fallback = 'Something went wrong') {
  if (status === 0) return 'Cannot reach the server. Check your connection.';
  if (status === 413) return 'That file is too large for this server.';
  if (status === 429) {
    const s = Number(body?.retry_after);
    return s > 0 ? `You are doing that too fast. Try again in ${Math.ceil(s)} s.` : 'You are doing that too fast. Try again shortly.';
  }
  const f = firstFieldError(body?.errors);
  if (f && f.message) {
    const field = f.path.filter((p) => !/^\d+$/.test(p)).join(' ');
    return field ? `${field}: ${f.message}` : f.message;
  }
  if (body && typeof body.message === 'string' && body.message) return body.message;
  if (status === 401) return 'Your session has ended. Please sign in again.';
  if (status >= 500) return `The server had a problem (${status}). Try again.`;
  return `${fallback} (${status}).`;
}

/** Api calls the REST API with the user's token. */
export class Api {
  /**
   * token: the user's token (or null); onUnauthorized: called once per
   * request answered 401 whose token is still the current one (expired or
   * revoked); a late 401 for a token since replaced (sign-out, another
   * user signed in) is only that request's error.
   */
  constructor({ token = null, onUnauthorized = () => {}, base = API_BASE, fetchImpl } = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.base = base;
    this.fetch = fetchImpl ?? ((...a) => globalThis.fetch(...a));
  }

  #headers(token, json) {
    const h = {};
    if (token) h.Authorization = token;
    if (json) h['Content-Type'] = 'application/json';
    return h;
  }

  // unauthorized reports a 401 for token if it is still the current one.
  #unauthorized(status, token) {
    if (status === 401 && token && token === this.token) this.onUnauthorized();
  }

  async request(method, path, body, { keepalive = false } = {}) {
    const token = this.token;
    let res;
    try {
      res = await this.fetch(this.base + path, {
        method, headers: this.#headers(token, body !== undefined), keepalive,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, null);
    }
    let data = null;
    if (res.status !== 204) {
      const text = await res.text().catch(() => '');
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      this.#unauthorized(res.status, token);
      throw new ApiError(res.status, data);
    }
    return data;
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body ?? {}); }
  patch(path, body) { return this.request('PATCH', path, body); }
  delete(path) { return this.request('DELETE', path); }

  /**
   * upload posts a message with files as Discord's multipart: payload_json
   * and files[n]. onProgress gets the fraction sent (0..1). It returns
   * {promise, abort}.
   */
  upload(path, payload, files, onProgress = () => {}) {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    const body = { ...payload, attachments: files.map((f, i) => ({ id: i, filename: f.name })) };
    form.append('payload_json', JSON.stringify(body));
    files.forEach((f, i) => form.append(`files[${i}]`, f, f.name));
    const token = this.token;
    const promise = new Promise((resolve, reject) => {
      xhr.open('POST', this.base + path);
      if (token) xhr.setRequestHeader('Authorization', token);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError(0, null));
      xhr.onabort = () => reject(Object.assign(new ApiError(0, null), { aborted: true }));
      xhr.onload = () => {
        let data = null;
        try {
          data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          data = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
        this.#unauthorized(xhr.status, token);
        reject(new ApiError(xhr.status, data));
      };
      xhr.send(form);
    });
    return { promise, abort: () => xhr.abort() };
  }
}
