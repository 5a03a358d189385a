// Driven by interop/web_client_test.go: a discord.js v14 bot in the seeded
// guild beside two people on the web client. It logs in (REST base from
// argv, gateway URL from GET /gateway/bot), reports READY and every
// message from someone else with its attachments as discord.js shows
// them, and replies to a message when told to on stdin:
//   {"reply": MESSAGE_ID, "content": TEXT}
// Emits one JSON object per line on stdout.
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { createInterface } from 'node:readline';

const [api, token] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const seen = new Map(); // message id -> Message, to reply to

const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
  rest: { api },
});

client.once(Events.ClientReady, (c) => {
  const guilds = c.guilds.cache.map((g) => ({
    id: g.id,
    channels: g.channels.cache.map((ch) => ({ id: ch.id, name: ch.name, type: ch.type })),
  }));
  out({ event: 'ready', user: c.user.id, guilds });
});

client.on(Events.MessageCreate, (msg) => {
  if (msg.author.id === client.user.id) return;
  seen.set(msg.id, msg);
  out({
    event: 'message',
    id: msg.id,
    content: msg.content,
    channel: msg.channelId,
    author: msg.author.id,
    attachments: msg.attachments.map((a) => ({
      id: a.id, name: a.name, url: a.url, proxy_url: a.proxyURL,
      width: a.width, height: a.height, content_type: a.contentType, size: a.size,
    })),
  });
});

client.on(Events.Error, (e) => out({ event: 'error', error: String(e) }));
process.on('unhandledRejection', (e) => out({ event: 'error', error: String(e) }));

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    out({ event: 'error', where: 'stdin', error: `not JSON: ${line}` });
    return;
  }
  const msg = seen.get(cmd.reply);
  if (!msg) {
    out({ event: 'error', where: 'reply', error: `no message ${cmd.reply} seen` });
    return;
  }
  try {
    const r = await msg.reply(cmd.content);
    out({ event: 'replied', id: r.id, content: r.content });
  } catch (e) {
    out({ event: 'error', where: 'reply', error: String(e) });
  }
});
// Exit when the test closes stdin.
lines.on('close', () => { client.destroy(); process.exit(0); });

client.login(token).catch((e) => {
  out({ event: 'error', where: 'login', error: String(e) });
  process.exit(1);
});
