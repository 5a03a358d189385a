// davedriver.mjs: drives DAVE participants in dave.wasm for a Go test
// (web/dave_participant_test.go), one JSON command a line on stdin, one
// JSON answer a line on stdout; bytes are hex. Each user has two module
// instances, as in the browser: one runs the participant (the MLS
// worker), the other gets its key changes (the media worker).
import fs from 'node:fs';
import readline from 'node:readline';
import { DaveModule } from '../dave/module.js';

const bytes = fs.readFileSync(new URL('../dave/dave.wasm', import.meta.url));
const users = new Map(); // user -> {mls, media}
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

function result(u, r) {
  for (const k of r.keys) u.media.applyKey(k);
  return { out: r.out.map((o) => (o instanceof Uint8Array ? { bin: hex(o) } : o)), changed: r.changed, error: r.error };
}

async function run(c) {
  if (c.cmd === 'new') {
    const u = { mls: await DaveModule.load(bytes), media: await DaveModule.load(bytes) };
    u.mls.mlsNew(c.user, c.channel);
    users.set(c.user, u);
    return {};
  }
  const u = users.get(c.user);
  switch (c.cmd) {
    case 'members': return u.mls.mlsAnnounced(c.users), {};
    case 'session': return result(u, u.mls.mlsSessionDescription(c.version));
    case 'json': return result(u, u.mls.mlsHandleJSON(c.op, c.d));
    case 'binary': return result(u, u.mls.mlsHandleBinary(unhex(c.hex)));
    case 'state': return { value: { ...u.mls.mlsState(), frames: u.media.frameStats() } };
    case 'pairwise': return { value: u.mls.mlsPairwiseCode(c.other) };
    case 'encrypt': {
      const r = u.media.encrypt(unhex(c.hex), 1, false);
      return { value: r.status, hex: r.data ? hex(new Uint8Array(r.data)) : '' };
    }
    case 'decrypt':
      return { emits: u.media.decrypt(c.from, unhex(c.hex)).map((e) => ({ ok: e.ok, hex: e.ok ? hex(new Uint8Array(e.data)) : '' })) };
  }
  throw new Error(`unknown command ${c.cmd}`);
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let answer;
  try {
    answer = await run(JSON.parse(line));
  } catch (err) {
    answer = { fail: String((err && err.message) || err) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
