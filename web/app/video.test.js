import test from 'node:test';
import assert from 'node:assert/strict';
import { gridShape, tileOrder, cameraButton, cameraErrorMessage, tileLabel } from './video.js';

test('gridShape: as large tiles as fit', () => {
  const cases = [
    // [n, width, height, want cols, rows]
    [0, 800, 400, 0, 0],
    [1, 800, 400, 1, 1],
    [2, 800, 400, 2, 1], // side by side in a wide box
    [2, 400, 800, 1, 2], // stacked in a tall one
    [3, 1600, 450, 3, 1],
    [4, 800, 450, 2, 2],
    [5, 800, 450, 3, 2],
    [9, 1600, 900, 3, 3],
    [10, 1600, 900, 4, 3],
  ];
  for (const [n, w, hgt, cols, rows] of cases) {
    assert.deepEqual(gridShape(n, w, hgt), { cols, rows }, `${n} tiles in ${w}x${hgt}`);
  }
});

test('gridShape: every tile has a cell; no box yet: near square', () => {
  for (let n = 1; n <= 25; n++) {
    for (const [w, hgt] of [[0, 0], [320, 900], [1200, 300], [1000, 560]]) {
      const { cols, rows } = gridShape(n, w, hgt);
      assert.ok(cols * rows >= n && cols * (rows - 1) < n, `${n} in ${w}x${hgt}: ${cols}x${rows}`);
    }
  }
  assert.deepEqual(gridShape(3), { cols: 2, rows: 2 });
  assert.deepEqual(gridShape('x'), { cols: 0, rows: 0 });
  assert.deepEqual(gridShape(-2, 100, 100), { cols: 0, rows: 0 });
});

test('tileOrder: me first, then by name, then by id', () => {
  const names = { a: 'carol', b: 'alice', c: 'bob', d: 'alice' };
  assert.deepEqual(tileOrder('c', ['a', 'b', 'c', 'd'], (id) => names[id]), ['c', 'b', 'd', 'a']);
  assert.deepEqual(tileOrder('z', ['a', 'b'], (id) => names[id]), ['b', 'a']); // no camera of mine
  assert.deepEqual(tileOrder('a', ['a', 'a']), ['a']);
  assert.deepEqual(tileOrder('a', []), []);
});

test('cameraButton: off, starting, on, unavailable', () => {
  assert.deepEqual(cameraButton('off'), { pressed: false, label: 'Turn camera on', title: 'Turn camera on', busy: false, disabled: false, icon: 'videoOff' });
  assert.equal(cameraButton('on').pressed, true);
  assert.equal(cameraButton('on').label, 'Turn camera off');
  assert.equal(cameraButton('starting').busy, true);
  assert.equal(cameraButton('starting').disabled, true);
  assert.equal(cameraButton(undefined).label, 'Turn camera on');
  const un = cameraButton('off', false);
  assert.equal(un.disabled, true);
  assert.match(un.title, /cannot use a camera/);
});

test('cameraErrorMessage: denied, missing, busy, other', () => {
  const err = (name, message = '') => Object.assign(new Error(message), { name });
  assert.match(cameraErrorMessage(err('NotAllowedError')), /denied/);
  assert.match(cameraErrorMessage(err('SecurityError')), /denied/);
  assert.match(cameraErrorMessage(err('NotFoundError')), /No camera found/);
  assert.match(cameraErrorMessage(err('OverconstrainedError')), /No camera found/);
  assert.match(cameraErrorMessage(err('NotReadableError')), /another application/);
  assert.match(cameraErrorMessage(err('TypeError')), /cannot use a camera/);
  assert.equal(cameraErrorMessage(err('Weird', 'it broke')), 'The camera could not be started: it broke');
  assert.equal(cameraErrorMessage(null), 'The camera could not be started.');
});

test('tileLabel', () => {
  assert.equal(tileLabel('alice', true), 'Your camera (alice)');
  assert.equal(tileLabel('bob', false), 'bob’s camera');
});
