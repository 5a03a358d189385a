// Drives @snazzah/davey (OpenMLS inside) DAVESessions for e2ee/mls interop
// tests. One JSON command per stdin line, one JSON reply per stdout line;
// byte strings are hex.
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(new URL('../../../interop/node/package.json', import.meta.url));
const davey = require('@snazzah/davey');
const sessions = new Map();
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null);
const buf = (h) => Buffer.from(h, 'hex');

function handle(c) {
  const s = sessions.get(c.id);
  switch (c.cmd) {
    case 'new':
      sessions.set(c.id, new davey.DAVESession(1, c.user, c.channel));
      return {};
    case 'extsender':
      s.setExternalSender(buf(c.hex));
      return {};
    case 'keypackage':
      return { hex: hex(s.getSerializedKeyPackage()) };
    case 'proposals': {
      const r = s.processProposals(c.optype, buf(c.hex), c.users);
      return { commit: hex(r.commit), welcome: hex(r.welcome) };
    }
    case 'commit':
      s.processCommit(buf(c.hex));
      return {};
    case 'welcome':
      s.processWelcome(buf(c.hex));
      return {};
    case 'state':
      return { epoch: s.epoch === null ? null : Number(s.epoch), leaf: s.ownLeafIndex, auth: hex(s.getEpochAuthenticator()) };
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let out;
  try {
    out = { ok: true, ...handle(JSON.parse(line)) };
  } catch (e) {
    out = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
