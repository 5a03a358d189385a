package store

import (
	"context"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// BucketWidthMS is the width of a message bucket: 10 days of snowflake time.
const BucketWidthMS = 10 * 24 * 3600 * 1000

// Bucket returns the time bucket of a snowflake.
func Bucket(id model.Snowflake) int64 { return int64(id>>22) / BucketWidthMS }

// Key locates one message: (channel_id, bucket, message_id).
type Key struct {
	ChannelID model.Snowflake
	Bucket    int64
	ID        model.Snowflake
}

// KeyOf returns the key of message id in channel.
func KeyOf(channel, id model.Snowflake) Key {
	return Key{ChannelID: channel, Bucket: Bucket(id), ID: id}
}

// Page selects messages of one channel. At most one of Before, After and
// Around is non-zero; Limit is 1-100 (0 means 50). Results are newest first.
type Page struct {
	Before, After, Around model.Snowflake
	Limit                 int
}

// Account is a user with its login secret.
type Account struct {
	User         model.User
	PasswordHash string // empty for bots
}

// Store is everything the chat server persists. Implementations are safe
// for concurrent use.
type Store interface {
	// Users.
	CreateUser(ctx context.Context, a Account) error
	GetUser(ctx context.Context, id model.Snowflake) (model.User, error)
	AccountByName(ctx context.Context, username string) (Account, error)
	ListUsers(ctx context.Context) ([]model.User, error)

	// Tokens (by hash).
	PutToken(ctx context.Context, t Token) error
	GetToken(ctx context.Context, hash []byte) (Token, error)
	SetTokenLifetime(ctx context.Context, hash []byte, issued, expires time.Time) error
	DeleteToken(ctx context.Context, hash []byte) error
	DeleteUserTokens(ctx context.Context, user model.Snowflake) error
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error)
	ReplaceTokens(ctx context.Context, passwordHash *string, t Token) error

	// Guild graph.
	PutGuild(ctx context.Context, g model.Guild) error
	ListGuilds(ctx context.Context) ([]model.Guild, error)
	PutChannel(ctx context.Context, c model.Channel) error
	DeleteChannel(ctx context.Context, id model.Snowflake) error
	ListChannels(ctx context.Context, guild model.Snowflake) ([]model.Channel, error)
	PutRole(ctx context.Context, guild model.Snowflake, r model.Role) error
	ListRoles(ctx context.Context, guild model.Snowflake) ([]model.Role, error)
	PutMember(ctx context.Context, m model.Member) error
	DeleteMember(ctx context.Context, guild, user model.Snowflake) error
	ListMembers(ctx context.Context, guild model.Snowflake) ([]model.Member, error)

	// Messages.
	CreateMessage(ctx context.Context, m model.Message) error
	GetMessage(ctx context.Context, k Key) (model.Message, error)
	ListMessages(ctx context.Context, channel model.Snowflake, p Page) ([]model.Message, error)
	UpdateMessage(ctx context.Context, m model.Message) error
	DeleteMessage(ctx context.Context, k Key) error

	// Read states (readstates.go).
	AckMessage(ctx context.Context, user, channel, message model.Snowflake) (moved bool, err error)
	ReadStates(ctx context.Context, user model.Snowflake) ([]ReadState, error)
	MentionCount(ctx context.Context, channel, after, user model.Snowflake, scan int) (int, error)

	// Meta is a small key-value table (seed markers, versions).
	GetMeta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error

	Close() error
}
