package store

// schemaTemplate is version 1 of the schema, which migrations (migrate.go)
// bring to the current version; it is the same for both engines but for
// column types and SQLite's WITHOUT ROWID: {{B}} is the boolean type, {{X}}
// the blob type, {{W}} the table suffix. Never change it: add a migration.
const schemaTemplate = `
CREATE TABLE IF NOT EXISTS meta (
	k TEXT PRIMARY KEY,
	v TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
	id BIGINT PRIMARY KEY,
	username TEXT NOT NULL UNIQUE,
	bot {{B}} NOT NULL,
	password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
	hash {{X}} PRIMARY KEY,
	user_id BIGINT NOT NULL
){{W}};
CREATE TABLE IF NOT EXISTS guilds (
	id BIGINT PRIMARY KEY,
	name TEXT NOT NULL,
	owner_id BIGINT NOT NULL,
	system_channel_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
	id BIGINT PRIMARY KEY,
	guild_id BIGINT NOT NULL,
	type INTEGER NOT NULL,
	name TEXT NOT NULL,
	position INTEGER NOT NULL,
	topic TEXT,
	rtc_region TEXT,
	parent_id BIGINT NOT NULL,
	bitrate INTEGER NOT NULL,
	user_limit INTEGER NOT NULL,
	nsfw {{B}} NOT NULL,
	rate_limit_per_user INTEGER NOT NULL,
	overwrites TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS channels_guild ON channels (guild_id);
CREATE TABLE IF NOT EXISTS roles (
	guild_id BIGINT NOT NULL,
	id BIGINT NOT NULL,
	name TEXT NOT NULL,
	color INTEGER NOT NULL,
	hoist {{B}} NOT NULL,
	position INTEGER NOT NULL,
	permissions TEXT NOT NULL,
	mentionable {{B}} NOT NULL,
	PRIMARY KEY (guild_id, id)
){{W}};
CREATE TABLE IF NOT EXISTS members (
	guild_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	nick TEXT,
	roles TEXT NOT NULL,
	joined_at BIGINT NOT NULL,
	deaf {{B}} NOT NULL,
	mute {{B}} NOT NULL,
	PRIMARY KEY (guild_id, user_id)
){{W}};
CREATE TABLE IF NOT EXISTS messages (
	channel_id BIGINT NOT NULL,
	bucket BIGINT NOT NULL,
	id BIGINT NOT NULL,
	author_id BIGINT NOT NULL,
	content TEXT NOT NULL,
	edited_at BIGINT NOT NULL,
	tts {{B}} NOT NULL,
	type INTEGER NOT NULL,
	flags INTEGER NOT NULL,
	mention_everyone {{B}} NOT NULL,
	mentions TEXT NOT NULL,
	embeds TEXT NOT NULL,
	PRIMARY KEY (channel_id, bucket, id)
){{W}};
`
