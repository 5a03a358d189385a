// Driven by cmd/parley/chat_voice_interop_test.go: a discord.js v14 Client
// logs in to Parley's chat server, and on command joins the `Lounge` voice
// channel through @discordjs/voice joinVoiceChannel with the guild's own
// voiceAdapterCreator (so op 4 and the VOICE_STATE_UPDATE /
// VOICE_SERVER_UPDATE hand-off go through Parley's main gateway), then plays
// an Ogg Opus file.
//
// Usage: node voice.mjs API_BASE BOT_TOKEN FILE.ogg
// stdout (JSON lines): ready {user, guild, channel} | joined {mode, ssrc} |
//                      played | left | error {where, error} |
//                      state {from, to} (each VoiceConnection status change:
//                      a moved call goes ready -> connecting -> ready)
// stdin: "join", "play", "leave"
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Client, Events, GatewayIntentBits } from 'discord.js';

// Load an XChaCha backend before @discordjs/voice picks one (see
// interop/node/voice/djs-driver.mjs).
for (const lib of ['sodium-native', 'sodium', 'libsodium-wrappers', '@stablelib/xchacha20poly1305', '@noble/ciphers/chacha.js']) {
  try {
    await import(lib);
    break;
  } catch {}
}
const {
  AudioPlayerStatus, NoSubscriberBehavior, StreamType, VoiceConnectionStatus,
  createAudioPlayer, createAudioResource, entersState, joinVoiceChannel,
} = await import('@discordjs/voice');

const [api, token, file] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fail = (where, e) => {
  out({ event: 'error', where, error: String(e && e.stack ? e.stack : e) });
  process.exit(1);
};
process.on('unhandledRejection', (e) => fail('unhandled', e));

const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildVoiceStates],
  rest: { api },
});

let guild, lounge, connection;
const player = createAudioPlayer({ behaviors: { noSubscriber: NoSubscriberBehavior.Play } });
player.on('error', (e) => fail('player', e));

client.once(Events.ClientReady, (c) => {
  guild = c.guilds.cache.first();
  lounge = guild?.channels.cache.find((ch) => ch.name === 'Lounge');
  if (!lounge) fail('ready', 'no Lounge channel');
  out({ event: 'ready', user: c.user.id, guild: guild.id, channel: lounge.id });
});

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = line.trim();
  try {
    if (cmd === 'join') {
      connection = joinVoiceChannel({
        guildId: guild.id,
        channelId: lounge.id,
        adapterCreator: guild.voiceAdapterCreator,
        selfDeaf: false,
        selfMute: false,
        daveEncryption: false,
      });
      connection.on('error', (e) => fail('connection', e));
      connection.on('stateChange', (a, b) => {
        if (a.status !== b.status) out({ event: 'state', from: a.status, to: b.status });
      });
      connection.subscribe(player);
      await entersState(connection, VoiceConnectionStatus.Ready, 20_000);
      const net = connection.state.networking?.state;
      out({ event: 'joined', mode: net?.connectionData?.encryptionMode, ssrc: net?.connectionData?.ssrc });
    } else if (cmd === 'play') {
      const resource = createAudioResource(createReadStream(file), { inputType: StreamType.OggOpus });
      player.play(resource);
      await entersState(player, AudioPlayerStatus.Playing, 5_000);
      await entersState(player, AudioPlayerStatus.Idle, 30_000);
      out({ event: 'played' });
    } else if (cmd === 'leave') {
      connection?.destroy();
      connection = undefined;
      out({ event: 'left' });
    }
  } catch (e) {
    fail(cmd, e);
  }
});
rl.on('close', () => {
  connection?.destroy();
  client.destroy();
  process.exit(0);
});

client.login(token).catch((e) => fail('login', e));
