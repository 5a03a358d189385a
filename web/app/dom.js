// dom.js: a tiny element builder. Children are nodes or strings (always
// text nodes); attributes are set one by one (no HTML is ever parsed).

/**
 * h('button', {class: 'x', dataset: {action: 'a'}, onclick}, 'text', node)
 * builds an element. Attributes: class, dataset, on* handlers, boolean
 * true (empty attribute) / false or null (absent), anything else as a string.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** $ is querySelector (in root, the document by default). */
export const $ = (sel, root = document) => root.querySelector(sel);

/** initials is one or two letters for an avatar. */
export function initials(name) {
  const parts = String(name ?? '?').trim().split(/[\s_.-]+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] ?? '?').slice(0, 2);
  return s.toUpperCase();
}

/** hue is a stable colour class index (0..7) for a user id. */
export function hue(id) {
  let n = 0;
  for (const ch of String(id ?? '')) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
  return n % 8;
}

/** avatar is a round initials badge coloured by user id. */
export function avatar(id, name, extra = '') {
  return h('span', { class: `avatar hue-${hue(id)} ${extra}`.trim(), 'aria-hidden': 'true' }, initials(name));
}
