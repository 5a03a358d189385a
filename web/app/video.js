// video.js: the page's cameras. Pure helpers (unit tested in Node:
// video.test.js): the grid's shape, the order of the tiles, what the
// camera button says, why a camera could not be opened. renderVideo draws
// the video grid in the main area while in a call: one tile per member of
// the call whose camera is on (this user's own preview first), each with a
// name label and the speaking ring; tiles are kept while their stream is
// the same (a redraw must not restart a playing video) and removed when a
// camera stops or its member leaves.

import { h, $ } from './dom.js';
import { icon } from './icons.js';
import { displayName } from './store.js';

/** TILE_ASPECT is a tile's width over its height (a camera's 16:9). */
export const TILE_ASPECT = 16 / 9;

/**
 * gridShape picks the columns and rows for n tiles of aspect (width over
 * height) in a box of width × height pixels, so the tiles are as large as
 * they can be: {cols, rows}. Without a box size (0: not laid out yet) it
 * falls back to a near-square grid, wider than tall.
 */
export function gridShape(n, width = 0, height = 0, aspect = TILE_ASPECT) {
  n = Math.max(0, Math.floor(Number(n) || 0));
  if (n === 0) return { cols: 0, rows: 0 };
  if (!(width > 0 && height > 0)) {
    const cols = Math.ceil(Math.sqrt(n));
    return { cols, rows: Math.ceil(n / cols) };
  }
  let best = { cols: 1, rows: n, size: -1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    if (Math.ceil(n / rows) < cols) continue; // a column would stay empty
    // The tile's width: the column's width, or less when the rows' height
    // binds. A tie goes to more columns (wider than tall, as screens are).
    const w = Math.min(width / cols, (height / rows) * aspect);
    if (w >= best.size - 1e-9) best = { cols, rows, size: w };
  }
  return { cols: best.cols, rows: best.rows };
}

/**
 * tileOrder orders the users with a camera: this user first, then by
 * name (nameOf), then by id, so tiles do not jump around.
 */
export function tileOrder(me, ids, nameOf = (id) => id) {
  const rest = [...new Set(ids)].filter((id) => id !== me);
  rest.sort((a, b) => String(nameOf(a)).localeCompare(String(nameOf(b))) || (a < b ? -1 : a > b ? 1 : 0));
  return ids.includes(me) ? [me, ...rest] : rest;
}

/**
 * cameraButton is what the camera button shows for the session's camera
 * state ('off' | 'starting' | 'on') and whether this browser can open a
 * camera at all: {pressed, label, title, busy, disabled, icon}.
 */
export function cameraButton(state, available = true) {
  if (!available) {
    return { pressed: false, label: 'Camera unavailable', title: 'This browser cannot use a camera here', busy: false, disabled: true, icon: 'videoOff' };
  }
  switch (state) {
    case 'on':
      return { pressed: true, label: 'Turn camera off', title: 'Turn camera off', busy: false, disabled: false, icon: 'video' };
    case 'starting':
      return { pressed: false, label: 'Turning camera on…', title: 'Turning camera on…', busy: true, disabled: true, icon: 'video' };
    default:
      return { pressed: false, label: 'Turn camera on', title: 'Turn camera on', busy: false, disabled: false, icon: 'videoOff' };
  }
}

/**
 * cameraErrorMessage says why getUserMedia could not open a camera, in a
 * sentence for the voice panel.
 */
export function cameraErrorMessage(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was denied. Allow the camera for this site in the browser, then try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera found. Connect a camera, then try again.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera could not be started: another application may be using it.';
    case 'TypeError':
      return 'This browser cannot use a camera on this page.';
    default:
      return `The camera could not be started${error?.message ? `: ${error.message}` : '.'}`;
  }
}

/** tileLabel is a tile's accessible name. */
export function tileLabel(name, self) {
  return self ? `Your camera (${name})` : `${name}’s camera`;
}

// tiles: the grid's tile per user id {el, video, stream}; one grid per page.
const tiles = new Map();
let observer = null;

// shape sets the grid's columns for its tiles and its size.
function shape(grid) {
  const { cols, rows } = gridShape(tiles.size, grid.clientWidth, grid.clientHeight);
  grid.dataset.cols = String(cols);
  grid.dataset.rows = String(rows);
}

function tile(app, id, stream, self, name) {
  let t = tiles.get(id);
  if (!t || t.stream !== stream) {
    t?.el.remove();
    const video = h('video', { autoplay: true, playsinline: true, 'aria-hidden': 'true' });
    video.muted = true; // audio plays through Web Audio (voicesession.js)
    video.srcObject = stream;
    video.play().catch(() => {}); // autoplay of a muted video is allowed; a refusal shows the last frame
    const el = h('li', { class: `video-tile${self ? ' self' : ''}`, dataset: { videoUser: id } },
      video,
      h('span', { class: 'video-name' }, icon('video', 'video-name-icon'), h('span', { class: 'video-name-text' })));
    t = { el, video, stream };
    tiles.set(id, t);
  }
  t.el.setAttribute('aria-label', tileLabel(name, self));
  const text = $('.video-name-text', t.el);
  const label = self ? `${name} (you)` : name;
  if (text.textContent !== label) text.textContent = label;
  t.el.classList.toggle('speaking', Boolean(app.voice?.speaking.has(id)));
  return t.el;
}

/**
 * renderVideo draws the video grid (#video-grid): shown while in a call
 * with at least one camera on.
 */
export function renderVideo(app) {
  const grid = $('#video-grid');
  const list = $('.video-tiles', grid);
  const v = app.voice;
  const me = app.state.me?.id;
  const streams = new Map(v?.channelId ? v.videos : []);
  if (v?.channelId && v.preview && me) streams.set(me, v.preview);
  for (const [id, t] of tiles) {
    if (streams.get(id) === t.stream) continue;
    t.video.srcObject = null;
    t.el.remove();
    tiles.delete(id);
  }
  const nameOf = (id) => displayName(app.state, v?.guildId, id);
  const order = tileOrder(me, [...streams.keys()], nameOf);
  const els = order.map((id) => tile(app, id, streams.get(id), id === me, nameOf(id)));
  // Moved only when the order changed (a video taken out of the document
  // pauses); one that paused all the same plays again.
  if (els.some((el, i) => list.children[i] !== el) || list.children.length !== els.length) {
    list.replaceChildren(...els);
    for (const t of tiles.values()) if (t.video.paused) t.video.play().catch(() => {});
  }
  grid.hidden = els.length === 0;
  grid.setAttribute('aria-label', els.length === 1 ? 'Video: 1 camera' : `Video: ${els.length} cameras`);
  if (!observer && typeof ResizeObserver === 'function') {
    observer = new ResizeObserver(() => shape(grid));
    observer.observe(grid);
  }
  shape(grid);
}
