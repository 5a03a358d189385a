// Driven by chat/interop_discordjs_test.go: a discord.js v14 Client logs in
// to Parley's chat server (REST base from argv), reports the attachments
// of every message from someone else, and answers each with a file of its
// own (channel.send with files: a multipart upload). Emits one JSON object
// per line on stdout.
import { Client, Events, GatewayIntentBits } from 'discord.js';

const [api, token, replyFile] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
  rest: { api },
});

client.once(Events.ClientReady, (c) => out({ event: 'ready', user: c.user.id }));

client.on(Events.MessageCreate, async (msg) => {
  if (msg.author.id === client.user.id) return;
  const attachments = msg.attachments.map((a) => ({
    id: a.id, name: a.name, url: a.url, proxyURL: a.proxyURL, width: a.width, height: a.height,
    contentType: a.contentType, size: a.size, description: a.description,
  }));
  out({ event: 'message', content: msg.content, attachments });
  try {
    const r = await msg.channel.send({
      content: 'a file from discord.js',
      files: [{ attachment: replyFile, name: 'reply.png', description: 'sent by discord.js' }],
    });
    const a = r.attachments.first();
    out({ event: 'sent', id: r.id, attachment: a && { id: a.id, name: a.name, url: a.url, width: a.width, height: a.height, description: a.description } });
  } catch (e) {
    out({ event: 'error', where: 'send', error: String(e) });
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
