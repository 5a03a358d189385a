// markdown.js: the little Markdown people type in chat — ```code
// blocks```, `code`, **bold**, *italic* / _italic_, ~~strike~~, links
// and <@user> mentions — parsed into a tree (parse, pure and unit tested
// in markdown.test.js) that render turns into DOM nodes. Text always
// becomes text nodes, never HTML.

const URL_RE = /^https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'*_~`]/;
const INLINE = [
  ['bold', '**'],
  ['strike', '~~'],
  ['italic', '*'],
  ['italic', '_'],
];

/**
 * parse returns a list of nodes: {type: 'text', text}, {type: 'code',
 * text}, {type: 'codeblock', text, lang}, {type: 'link', href},
 * {type: 'mention', id}, {type: 'bold'|'italic'|'strike', children}.
 */
export function parse(src, depth = 0) {
  const out = [];
  let text = '';
  const flush = () => {
    if (text) out.push({ type: 'text', text });
    text = '';
  };
  let i = 0;
  while (i < src.length) {
    const rest = src.slice(i);
    if (depth === 0 && rest.startsWith('```')) {
      const end = src.indexOf('```', i + 3);
      if (end > i + 3) {
        let body = src.slice(i + 3, end);
        let lang = '';
        const nl = body.indexOf('\n');
        if (nl > 0 && /^[\w+-]{1,20}$/.test(body.slice(0, nl))) {
          lang = body.slice(0, nl);
          body = body.slice(nl + 1);
        } else if (nl === 0) body = body.slice(1);
        flush();
        out.push({ type: 'codeblock', text: body.replace(/\n$/, ''), lang });
        i = end + 3;
        continue;
      }
    }
    if (src[i] === '`') {
      const end = src.indexOf('`', i + 1);
      if (end > i + 1) {
        flush();
        out.push({ type: 'code', text: src.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if (src[i] === '\\' && i + 1 < src.length && /[\\*_~`<]/.test(src[i + 1])) {
      text += src[i + 1];
      i += 2;
      continue;
    }
    const url = (src[i] === 'h' && (i === 0 || /[\s(]/.test(src[i - 1]))) ? URL_RE.exec(rest) : null;
    if (url) {
      flush();
      out.push({ type: 'link', href: url[0] });
      i += url[0].length;
      continue;
    }
    const mention = src[i] === '<' ? /^<@!?(\d{1,20})>/.exec(rest) : null;
    if (mention) {
      flush();
      out.push({ type: 'mention', id: mention[1] });
      i += mention[0].length;
      continue;
    }
    let matched = false;
    if (depth < 4) {
      for (const [type, mark] of INLINE) {
        if (!rest.startsWith(mark)) continue;
        const end = src.indexOf(mark, i + mark.length);
        // Not empty, not starting or ending with a space (2 * 3 * 4 stays text).
        if (end > i + mark.length && !/\s/.test(src[i + mark.length]) && !/\s/.test(src[end - 1])) {
          flush();
          out.push({ type, children: parse(src.slice(i + mark.length, end), depth + 1) });
          i = end + mark.length;
          matched = true;
          break;
        }
      }
    }
    if (matched) continue;
    text += src[i];
    i++;
  }
  flush();
  return out;
}

/**
 * render appends the nodes of src to parent. name(id) gives a mention's
 * display name.
 */
export function render(parent, src, name = (id) => id) {
  const doc = parent.ownerDocument;
  const add = (into, nodes) => {
    for (const n of nodes) {
      let el;
      switch (n.type) {
        case 'text':
          el = doc.createTextNode(n.text);
          break;
        case 'code':
          el = doc.createElement('code');
          el.textContent = n.text;
          break;
        case 'codeblock': {
          el = doc.createElement('pre');
          const code = doc.createElement('code');
          code.textContent = n.text;
          el.append(code);
          break;
        }
        case 'link':
          el = doc.createElement('a');
          el.href = n.href;
          el.textContent = n.href;
          el.target = '_blank';
          el.rel = 'noopener noreferrer';
          break;
        case 'mention':
          el = doc.createElement('span');
          el.className = 'mention';
          el.textContent = '@' + name(n.id);
          break;
        default:
          el = doc.createElement({ bold: 'strong', italic: 'em', strike: 's' }[n.type]);
          add(el, n.children);
      }
      into.append(el);
    }
  };
  add(parent, parse(src));
}
