import test from 'node:test';
import assert from 'node:assert/strict';
import { parse } from './markdown.js';

test('markdown-lite', () => {
  for (const [src, want] of [
    ['plain', [{ type: 'text', text: 'plain' }]],
    ['**b** x', [{ type: 'bold', children: [{ type: 'text', text: 'b' }] }, { type: 'text', text: ' x' }]],
    ['*i* _j_', [{ type: 'italic', children: [{ type: 'text', text: 'i' }] }, { type: 'text', text: ' ' }, { type: 'italic', children: [{ type: 'text', text: 'j' }] }]],
    ['2 * 3 * 4', [{ type: 'text', text: '2 * 3 * 4' }]],
    ['`a*b*`', [{ type: 'code', text: 'a*b*' }]],
    ['```js\nx = 1\n```', [{ type: 'codeblock', text: 'x = 1', lang: 'js' }]],
    ['see https://a.example/x?y=1.', [{ type: 'text', text: 'see ' }, { type: 'link', href: 'https://a.example/x?y=1' }, { type: 'text', text: '.' }]],
    ['javascript:alert(1)', [{ type: 'text', text: 'javascript:alert(1)' }]],
    ['hi <@123>', [{ type: 'text', text: 'hi ' }, { type: 'mention', id: '123' }]],
    ['<b>not html</b>', [{ type: 'text', text: '<b>not html</b>' }]],
    ['\\*literal\\*', [{ type: 'text', text: '*literal*' }]],
    ['~~s~~', [{ type: 'strike', children: [{ type: 'text', text: 's' }] }]],
    ['**unclosed', [{ type: 'text', text: '**unclosed' }]],
  ]) assert.deepEqual(parse(src), want, src);
});

test('parse never loses text', () => {
  const flat = (nodes) => nodes.map((n) => n.text ?? n.href ?? (n.id ? `<@${n.id}>` : flat(n.children ?? []))).join('');
  for (const s of ['a*b', '__', '**', '``', 'x ~~ y', 'http://', 'https://x.y/)']) {
    assert.ok(flat(parse(s)).length <= s.length, s);
  }
});
