// davey-driver.mjs drives @snazzah/davey 0.1.12 DAVESessions (OpenMLS
// inside) as MLS participants for interop/dave_davey_test.go, where Go
// speaks the voice gateway protocol to Parley's server and hands every DAVE
// payload to a session here (shared/docs/dave.md §9).
//
// One JSON command per stdin line, one JSON reply per stdout line
// ({ok: true, ...} or {ok: false, error}); byte strings are hex.
//   new {id, user, channel}          keypackage {id} -> {hex}
//   reinit {id}                      extsender {id, hex}
//   proposals {id, optype, hex, users} -> {commit, welcome}   (hex: <V> vector)
//   commit {id, hex}   welcome {id, hex}   passthrough {id, on, expiry}
//   encrypt {id, hex} -> {hex}       decrypt {id, from, hex} -> {hex}
//   state {id} -> {epoch, code, ready, users}
//   code {id, user} -> {code}
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(new URL('../package.json', import.meta.url));
const davey = require('@snazzah/davey');
const sessions = new Map();
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null);
const buf = (h) => Buffer.from(h, 'hex');

async function handle(c) {
  const s = sessions.get(c.id);
  if (c.cmd !== 'new' && !s) throw new Error(`no session ${c.id}`);
  switch (c.cmd) {
    case 'new':
      sessions.set(c.id, { user: c.user, channel: c.channel, d: new davey.DAVESession(1, c.user, c.channel) });
      return {};
    case 'reinit':
      s.d.reinit(1, s.user, s.channel);
      return {};
    case 'extsender':
      s.d.setExternalSender(buf(c.hex));
      return {};
    case 'keypackage':
      return { hex: hex(s.d.getSerializedKeyPackage()) };
    case 'proposals': {
      const r = s.d.processProposals(c.optype, buf(c.hex), c.users);
      return { commit: hex(r.commit), welcome: hex(r.welcome) };
    }
    case 'commit':
      s.d.processCommit(buf(c.hex));
      return {};
    case 'welcome':
      s.d.processWelcome(buf(c.hex));
      return {};
    case 'passthrough':
      s.d.setPassthroughMode(c.on, c.expiry);
      return {};
    case 'encrypt':
      return { hex: hex(s.d.encryptOpus(buf(c.hex))) };
    case 'decrypt':
      return { hex: hex(s.d.decrypt(c.from, davey.MediaType.AUDIO, buf(c.hex))) };
    case 'state':
      return {
        epoch: s.d.epoch === null || s.d.epoch === undefined ? null : String(s.d.epoch),
        code: s.d.ready ? s.d.voicePrivacyCode : null,
        ready: s.d.ready,
        users: s.d.ready ? s.d.getUserIds() : [],
      };
    case 'code':
      return { code: await s.d.getVerificationCode(c.user) };
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let out;
    try {
      out = { ok: true, ...(await handle(JSON.parse(line))) };
    } catch (e) {
      out = { ok: false, error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
