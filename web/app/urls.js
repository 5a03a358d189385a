// urls.js: the addresses the page talks to and the thumbnail geometry, pure
// functions (unit tested in Node: urls.test.js).

export const API_BASE = '/api/v10';

/** gatewayURL is the chat gateway on the page's own origin. */
export function gatewayURL(loc) {
  const scheme = loc.protocol === 'http:' ? 'ws:' : 'wss:';
  return `${scheme}//${loc.host}/gateway?v=10&encoding=json`;
}

/**
 * resumeURL is where a resume goes: READY's resume_gateway_url when the page
 * may open it (a secure page cannot open ws://, mixed content), else the
 * gateway the session was opened on.
 */
export function resumeURL(resumeGatewayURL, fallback) {
  if (typeof resumeGatewayURL !== 'string' || !resumeGatewayURL) return fallback;
  let u;
  try {
    u = new URL(resumeGatewayURL);
  } catch {
    return fallback;
  }
  const fb = new URL(fallback);
  if (u.protocol !== 'wss:' && !(u.protocol === 'ws:' && fb.protocol === 'ws:')) return fallback;
  if (u.pathname === '/' && fb.pathname !== '/') u.pathname = fb.pathname;
  u.searchParams.set('v', '10');
  u.searchParams.set('encoding', 'json');
  return u.toString();
}

/** voiceEndpoint is VOICE_SERVER_UPDATE's endpoint as VoiceConnection wants it: host:port. */
export function voiceEndpoint(endpoint) {
  if (typeof endpoint !== 'string') return '';
  return endpoint.replace(/^wss?:\/\//, '').replace(/\/.*$/, '');
}

/**
 * voiceGatewayHost is what VoiceConnection connects to (wss://HOST/?v=8)
 * for a VOICE_SERVER_UPDATE endpoint: the page's own origin's /voice when
 * the endpoint is the one this origin fronts (GET /voice names it; the
 * page's certificate is already trusted there), else the endpoint as
 * given (another node of a fleet). pageHost is location.host.
 */
export function voiceGatewayHost(endpoint, fronted, pageHost) {
  const ep = voiceEndpoint(endpoint);
  const f = voiceEndpoint(fronted);
  if (ep && f && pageHost && ep.toLowerCase() === f.toLowerCase()) return `${pageHost}/voice`;
  return ep;
}

/**
 * voiceTrustURL is the page a person opens to accept the voice server's
 * certificate: https://ENDPOINT/ when the endpoint (host:port) is not the
 * page's own host (whose certificate the browser already accepted), else
 * null. pageHost is location.host (no port when it is 443, as URL.host).
 */
export function voiceTrustURL(endpoint, pageHost) {
  const ep = voiceEndpoint(endpoint);
  if (!ep) return null;
  let u;
  try {
    u = new URL(`https://${ep}/`);
  } catch {
    return null;
  }
  return u.host === String(pageHost ?? '').toLowerCase() ? null : u.toString();
}

/**
 * mediaURL puts an attachment URL on the page's own origin when its path
 * is the media proxy's (/media/...): the server writes absolute URLs for
 * its public host name, but the page may be open under another one
 * (localhost and 127.0.0.1, a LAN address), where the CSP (img-src 'self')
 * and CORP (same-origin) refuse them. The signature covers the path and
 * query, not the host. Anything else is returned as it is.
 */
export function mediaURL(url, origin) {
  if (typeof url !== 'string' || !url || !origin) return url;
  let u;
  try {
    u = new URL(url, origin);
  } catch {
    return url;
  }
  if (!/^https?:$/.test(u.protocol) || !u.pathname.startsWith('/media/')) return url;
  return new URL(u.pathname + u.search + u.hash, origin).toString();
}

/**
 * fitBox scales w×h to fit in maxW×maxH, never up, and returns whole pixels
 * (at least 1). Unknown dimensions give the box.
 */
export function fitBox(w, h, maxW, maxH) {
  if (!(w > 0) || !(h > 0)) return { width: maxW, height: maxH };
  const s = Math.min(1, maxW / w, maxH / h);
  return { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)) };
}

/**
 * thumbURL asks the media proxy for proxyURL at width×height CSS pixels
 * times the device pixel ratio (capped at 2), never more than the source;
 * the browser's Accept header picks WebP or AVIF.
 */
export function thumbURL(proxyURL, box, source, dpr = 1) {
  const r = Math.min(Math.max(dpr || 1, 1), 2);
  let w = Math.round(box.width * r);
  let h = Math.round(box.height * r);
  if (source?.width > 0 && source?.height > 0 && (w > source.width || h > source.height)) {
    w = source.width;
    h = source.height;
  }
  const u = new URL(proxyURL);
  u.searchParams.set('width', String(w));
  u.searchParams.set('height', String(h));
  return u.toString();
}

/** channelPath is the deep link of a channel. */
export function channelPath(guildId, channelId) {
  return channelId ? `/channels/${guildId}/${channelId}` : `/channels/${guildId}`;
}

/** parsePath reads a deep link: {guildId, channelId} (either may be null). */
export function parsePath(pathname) {
  const m = /^\/channels\/(\d{1,20})(?:\/(\d{1,20}))?\/?$/.exec(pathname);
  return { guildId: m?.[1] ?? null, channelId: m?.[2] ?? null };
}

/** formatSize is a byte count for people. */
export function formatSize(n) {
  if (!(n >= 0)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
