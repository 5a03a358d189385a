// Driven by chat/interop_discordjs_test.go: a discord.js v14 Client logs in
// to Parley's chat server (REST base from argv, gateway URL from
// GET /gateway/bot), reports READY, and replies to every message from
// someone else. Emits one JSON object per line on stdout.
import { Client, Events, GatewayIntentBits } from 'discord.js';

const [api, token] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const client = new Client({
  intents: [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.MessageContent,
    GatewayIntentBits.GuildVoiceStates,
  ],
  rest: { api },
});

client.once(Events.ClientReady, (c) => {
  const guilds = c.guilds.cache.map((g) => ({ id: g.id, name: g.name, channels: g.channels.cache.size }));
  out({ event: 'ready', user: c.user.id, guilds });
});

client.on(Events.MessageCreate, async (msg) => {
  if (msg.author.id === client.user.id) return;
  out({ event: 'message', content: msg.content, channel: msg.channelId, author: msg.author.id });
  try {
    const r = await msg.reply('pong from discord.js');
    out({ event: 'replied', id: r.id });
  } catch (e) {
    out({ event: 'error', where: 'reply', error: String(e) });
  }
});

client.on(Events.Error, (e) => out({ event: 'error', error: String(e) }));
process.on('unhandledRejection', (e) => out({ event: 'error', error: String(e) }));

client.login(token).catch((e) => {
  out({ event: 'error', where: 'login', error: String(e) });
  process.exit(1);
});

// Exit when the test closes stdin.
process.stdin.on('end', () => { client.destroy(); process.exit(0); });
process.stdin.resume();
