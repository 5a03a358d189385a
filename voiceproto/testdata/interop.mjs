// Cross-checks voiceproto's Cipher against @discordjs/voice 0.19.2 (its real
// packet builder and receiver parser) and against independent reference
// implementations (node:crypto AES-256-GCM, @noble/ciphers XChaCha20-Poly1305
// and XSalsa20-Poly1305) for every mode. Driven by interop_test.go:
// argv[2] is the directory holding node_modules; stdin is a JSON array of
// requests, stdout a JSON array of responses. All byte strings are hex.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import crypto from 'node:crypto';
import path from 'node:path';

const require = createRequire(path.join(process.argv[2], 'package.json'));
const voice = require('@discordjs/voice');
const imp = (m) => import(pathToFileURL(require.resolve(m)).href);
const { xchacha20poly1305 } = await imp('@noble/ciphers/chacha.js');
const { xsalsa20poly1305 } = await imp('@noble/ciphers/salsa.js');

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s, 'hex');

function clearLen(mode, rtp) {
  if (!mode.endsWith('_rtpsize')) return 12;
  let n = 12 + 4 * (rtp[0] & 0x0f);
  if (rtp[0] & 0x10) n += 4;
  return n;
}

// Reference sealing straight from voice-protocol.md §3.3.
function refSeal(mode, key, rtp, nonce4, nonce24) {
  const hl = clearLen(mode, rtp);
  const head = rtp.subarray(0, hl), body = rtp.subarray(hl);
  switch (mode) {
    case 'aead_aes256_gcm_rtpsize':
    case 'aead_aes256_gcm': {
      const n = Buffer.alloc(12); nonce4.copy(n);
      const c = crypto.createCipheriv('aes-256-gcm', key, n);
      c.setAAD(head);
      return Buffer.concat([head, c.update(body), c.final(), c.getAuthTag(), nonce4]);
    }
    case 'aead_xchacha20_poly1305_rtpsize': {
      const n = Buffer.alloc(24); nonce4.copy(n);
      return Buffer.concat([head, xchacha20poly1305(key, n, head).encrypt(body), nonce4]);
    }
    case 'xsalsa20_poly1305': {
      const n = Buffer.alloc(24); rtp.copy(n, 0, 0, 12);
      return Buffer.concat([head, xsalsa20poly1305(key, n).encrypt(body)]);
    }
    case 'xsalsa20_poly1305_suffix':
      return Buffer.concat([head, xsalsa20poly1305(key, nonce24).encrypt(body), nonce24]);
    case 'xsalsa20_poly1305_lite':
    case 'xsalsa20_poly1305_lite_rtpsize': {
      const n = Buffer.alloc(24); nonce4.copy(n);
      return Buffer.concat([head, xsalsa20poly1305(key, n).encrypt(body), nonce4]);
    }
  }
  throw new Error('unknown mode ' + mode);
}

// The receive path of @discordjs/voice: VoiceReceiver.parsePacket (decrypt,
// strip padding, strip a 0xBEDE extension body). The connection is not
// Ready, so DAVE is skipped.
function djsOpen(mode, key, pkt) {
  const self = {
    decrypt: voice.VoiceReceiver.prototype.decrypt,
    voiceConnection: { state: { status: 'connecting' } },
  };
  const nonce = Buffer.alloc(mode === 'aead_aes256_gcm_rtpsize' ? 12 : 24);
  return voice.VoiceReceiver.prototype.parsePacket.call(self, pkt, mode, nonce, key, 'user');
}

// The send path of @discordjs/voice: Networking.createAudioPacket.
function djsSeal(mode, key, opus, seq, ts, ssrc, counter) {
  const self = { encryptOpusPacket: voice.Networking.prototype.encryptOpusPacket };
  const cd = {
    sequence: seq, timestamp: ts, ssrc, secretKey: key, encryptionMode: mode, nonce: counter,
    nonceBuffer: Buffer.alloc(mode === 'aead_aes256_gcm_rtpsize' ? 12 : 24),
  };
  return voice.Networking.prototype.createAudioPacket.call(self, opus, cd, undefined);
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const r of JSON.parse(input)) {
  const key = unhex(r.key);
  try {
    switch (r.op) {
      case 'ref_seal':
        out.push({ pkt: hex(refSeal(r.mode, key, unhex(r.rtp), unhex(r.nonce4), unhex(r.nonce24 || ''))) });
        break;
      case 'djs_open':
        out.push({ payload: hex(djsOpen(r.mode, key, unhex(r.pkt))) });
        break;
      case 'djs_seal':
        out.push({ pkt: hex(djsSeal(r.mode, key, unhex(r.opus), r.seq, r.ts, r.ssrc, r.counter)) });
        break;
      default:
        out.push({ error: 'unknown op ' + r.op });
    }
  } catch (e) {
    out.push({ error: String(e && e.message || e) });
  }
}
process.stdout.write(JSON.stringify(out));
