// djs-driver.mjs drives @discordjs/voice 0.19.2 for Parley's interop tests
// (interop/voice_djs_test.go, interop/dave_djs_test.go; shared/docs/
// voice-protocol.md §5.1, dave.md §9) through a custom adapter, with DAVE
// (@snazzah/davey inside) on when the config says `dave: true`.
//
// Usage: node djs-driver.mjs CONFIG.json
//
// CONFIG: {endpoint, token, session_id, user_id, guild_id, channel_id,
//          frames: [base64 Opus packets to play], subscribe: [user ids],
//          mode: "only offer this mode", dave: bool, debug: bool}
//
// stdout {"event":"ready","mode":...,"ssrc":...}
//        {"event":"frame","user":id,"opus":base64}   one received packet
//        {"event":"played","frames":n}
//        {"event":"state","message":"{version, epoch, code, ready}"} (JSON text)
//        {"event":"code","user":id,"message":"45 digits"}
//        {"event":"error","message":...} / {"event":"debug",...} / {"event":"left"}
// stdin  "play"        play the frames (Speaking on, frames, 5 silence, off)
//        "stream"      send "djs <user> <n>" frames every 20 ms until "stop"
//        "stop"        end the stream
//        "state"       print the DAVE state
//        "code USER"   print the pairwise verification code with USER
//        "leave"       destroy the connection and exit 0
//
// Forcing a mode: @discordjs/voice picks the first offered mode it supports,
// in the server's order. With `mode` set, the driver narrows the modes list
// of the server's Ready (op 2) to that one before the library sees it, as a
// server that only offers that mode would.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import {
  AudioPlayerStatus,
  NoSubscriberBehavior,
  StreamType,
  VoiceConnectionStatus,
  VoiceWebSocket,
  createAudioPlayer,
  createAudioResource,
  entersState,
  joinVoiceChannel,
} from '@discordjs/voice';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// @discordjs/voice loads its XChaCha backend with a chain of dynamic imports
// started when the module is evaluated (src/util/Secretbox.ts), so a client
// that joins within milliseconds of startup (a bot never does) encrypts with
// the "no library" fallback. Walk the same chain, then yield, so the
// library's loader has finished before we join.
for (const lib of ['sodium-native', 'sodium', 'libsodium-wrappers', '@stablelib/xchacha20poly1305', '@noble/ciphers/chacha.js']) {
  try {
    await import(lib);
    break;
  } catch {}
}
await new Promise((resolve) => setTimeout(resolve, 20));

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(err) {
  out({ event: 'error', message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

if (cfg.mode) {
  const emit = VoiceWebSocket.prototype.emit;
  VoiceWebSocket.prototype.emit = function (event, packet, ...rest) {
    if (event === 'packet' && packet && packet.op === 2 && Array.isArray(packet.d?.modes)) {
      packet.d.modes = packet.d.modes.filter((m) => m === cfg.mode);
    }
    return emit.call(this, event, packet, ...rest);
  };
}

const adapterCreator = (methods) => ({
  sendPayload(payload) {
    // Main-gateway op 4. Answer a join with the two dispatches, state first.
    if (payload.op === 4 && payload.d.channel_id) {
      setImmediate(() => {
        methods.onVoiceStateUpdate({
          guild_id: cfg.guild_id,
          channel_id: cfg.channel_id,
          user_id: cfg.user_id,
          session_id: cfg.session_id,
          deaf: false,
          mute: false,
          self_deaf: false,
          self_mute: false,
          self_video: false,
          suppress: false,
          request_to_speak_timestamp: null,
        });
        methods.onVoiceServerUpdate({ token: cfg.token, guild_id: cfg.guild_id, endpoint: cfg.endpoint });
      });
    }
    return true;
  },
  destroy() {},
});

const connection = joinVoiceChannel({
  guildId: cfg.guild_id,
  channelId: cfg.channel_id,
  adapterCreator,
  selfDeaf: false,
  selfMute: false,
  daveEncryption: Boolean(cfg.dave),
  debug: Boolean(cfg.debug),
});
if (cfg.debug) connection.on('debug', (m) => out({ event: 'debug', message: m }));
connection.on('error', fail);

for (const user of cfg.subscribe ?? []) {
  const stream = connection.receiver.subscribe(user);
  stream.on('data', (packet) => out({ event: 'frame', user, opus: Buffer.from(packet).toString('base64') }));
  stream.on('error', (err) => out({ event: 'receive_error', user, message: String(err) }));
}

const player = createAudioPlayer({ behaviors: { noSubscriber: NoSubscriberBehavior.Play } });
player.on('error', fail);
connection.subscribe(player);

try {
  await entersState(connection, VoiceConnectionStatus.Ready, 15_000);
} catch (err) {
  fail(`not ready: ${err}; status ${connection.state.status}`);
}
const net = connection.state.networking?.state;
out({ event: 'ready', mode: net?.connectionData?.encryptionMode, ssrc: net?.connectionData?.ssrc });

let streaming = false;
const frames = (cfg.frames ?? []).map((b) => Buffer.from(b, 'base64'));

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = line.trim();
  if (cmd === 'play') {
    const resource = createAudioResource(Readable.from(frames), { inputType: StreamType.Opus });
    player.play(resource);
    try {
      await entersState(player, AudioPlayerStatus.Playing, 5_000);
      await entersState(player, AudioPlayerStatus.Idle, 5_000 + frames.length * 40);
    } catch (err) {
      fail(`playback: ${err}`);
    }
    out({ event: 'played', frames: frames.length });
  } else if (cmd === 'stream') {
    streaming = true;
    let n = 0;
    async function* gen() {
      while (streaming) yield Buffer.from(`djs ${cfg.user_id} ${n++}`);
    }
    player.play(createAudioResource(Readable.from(gen()), { inputType: StreamType.Opus }));
  } else if (cmd === 'stop') {
    streaming = false;
    player.stop(true);
    out({ event: 'stopped' });
  } else if (cmd === 'state') {
    const dave = connection.state.networking?.state?.dave;
    const state = {
      version: dave?.protocolVersion ?? null,
      epoch: dave?.session ? String(dave.session.epoch) : null,
      code: dave?.voicePrivacyCode ?? null,
      ready: Boolean(dave?.session?.ready),
    };
    out({ event: 'state', message: JSON.stringify(state) });
  } else if (cmd.startsWith('code ')) {
    const user = cmd.slice(5).trim();
    try {
      out({ event: 'code', user, message: await connection.getVerificationCode(user) });
    } catch (err) {
      out({ event: 'code', user, message: `error: ${err}` });
    }
  } else if (cmd === 'leave') {
    player.stop(true);
    connection.destroy();
    out({ event: 'left' });
    setTimeout(() => process.exit(0), 50);
  }
});
rl.on('close', () => {
  connection.destroy();
  process.exit(0);
});
