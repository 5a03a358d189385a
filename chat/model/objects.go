package model

import (
	"encoding/json"
	"time"
)

// ChannelType is a Discord channel type.
type ChannelType int

// Channel types Parley serves.
const (
	ChannelText  ChannelType = 0
	ChannelVoice ChannelType = 2
)

// User is a Discord user object (bots included).
type User struct {
	ID            Snowflake `json:"id"`
	Username      string    `json:"username"`
	Discriminator string    `json:"discriminator"`
	GlobalName    *string   `json:"global_name"`
	Avatar        *string   `json:"avatar"`
	Bot           bool      `json:"bot"`
	System        bool      `json:"system"`
	MFAEnabled    bool      `json:"mfa_enabled"`
	Flags         int       `json:"flags"`
	PublicFlags   int       `json:"public_flags"`
}

// NewUser returns a user with Discord's defaults filled in.
func NewUser(id Snowflake, name string, bot bool) User {
	return User{ID: id, Username: name, Discriminator: "0", Bot: bot}
}

// Guild is a guild object without the GUILD_CREATE extras.
type Guild struct {
	ID                Snowflake  `json:"id"`
	Name              string     `json:"name"`
	OwnerID           Snowflake  `json:"owner_id"`
	SystemChannelID   *Snowflake `json:"system_channel_id"`
	AFKTimeout        int        `json:"afk_timeout"`
	PreferredLocale   string     `json:"preferred_locale"`
	MaxMembers        int        `json:"max_members"`
	MaxVideoUsers     int        `json:"max_video_channel_users"`
	Description       *string    `json:"description"`
	VerificationLevel int        `json:"verification_level"`
}

// Channel is a guild text or voice channel.
type Channel struct {
	ID                   Snowflake   `json:"id"`
	Type                 ChannelType `json:"type"`
	GuildID              Snowflake   `json:"guild_id"`
	Name                 string      `json:"name"`
	Position             int         `json:"position"`
	Topic                *string     `json:"topic"`
	NSFW                 bool        `json:"nsfw"`
	ParentID             *Snowflake  `json:"parent_id"`
	LastMessageID        *Snowflake  `json:"last_message_id"`
	RateLimitPerUser     int         `json:"rate_limit_per_user"`
	Bitrate              int         `json:"bitrate,omitempty"`
	UserLimit            int         `json:"user_limit"`
	RTCRegion            *string     `json:"rtc_region"`
	PermissionOverwrites []Overwrite `json:"permission_overwrites"`
	Flags                int         `json:"flags"`
}

// Overwrite is a channel permission overwrite.
type Overwrite struct {
	ID    Snowflake `json:"id"`
	Type  int       `json:"type"`
	Allow string    `json:"allow"`
	Deny  string    `json:"deny"`
}

// Role is a guild role; the @everyone role has the guild's id.
type Role struct {
	ID          Snowflake `json:"id"`
	Name        string    `json:"name"`
	Color       int       `json:"color"`
	Hoist       bool      `json:"hoist"`
	Icon        *string   `json:"icon"`
	Position    int       `json:"position"`
	Permissions string    `json:"permissions"`
	Managed     bool      `json:"managed"`
	Mentionable bool      `json:"mentionable"`
	Flags       int       `json:"flags"`
}

// Member is a guild member as stored (user by id).
type Member struct {
	GuildID  Snowflake   `json:"-"`
	UserID   Snowflake   `json:"-"`
	Nick     *string     `json:"nick"`
	Roles    []Snowflake `json:"roles"`
	JoinedAt time.Time   `json:"joined_at"`
	Deaf     bool        `json:"deaf"`
	Mute     bool        `json:"mute"`
}

// MemberObject is the wire member with its user object.
type MemberObject struct {
	User         *User       `json:"user,omitempty"`
	Nick         *string     `json:"nick"`
	Avatar       *string     `json:"avatar"`
	Roles        []Snowflake `json:"roles"`
	JoinedAt     string      `json:"joined_at"`
	PremiumSince *string     `json:"premium_since"`
	Deaf         bool        `json:"deaf"`
	Mute         bool        `json:"mute"`
	Flags        int         `json:"flags"`
	Pending      bool        `json:"pending"`
	GuildID      *Snowflake  `json:"guild_id,omitempty"`
}

// Object renders m with u for the wire.
func (m Member) Object(u *User) MemberObject {
	roles := m.Roles
	if roles == nil {
		roles = []Snowflake{}
	}
	return MemberObject{User: u, Nick: m.Nick, Roles: roles, JoinedAt: Timestamp(m.JoinedAt), Deaf: m.Deaf, Mute: m.Mute}
}

// Message is a stored message; Author is filled in when rendered.
type Message struct {
	ID              Snowflake       `json:"id"`
	ChannelID       Snowflake       `json:"channel_id"`
	GuildID         *Snowflake      `json:"guild_id,omitempty"`
	AuthorID        Snowflake       `json:"-"`
	Author          *User           `json:"author"`
	Member          *MemberObject   `json:"member,omitempty"`
	Content         string          `json:"content"`
	Timestamp       string          `json:"timestamp"`
	EditedTimestamp *string         `json:"edited_timestamp"`
	TTS             bool            `json:"tts"`
	MentionEveryone bool            `json:"mention_everyone"`
	Mentions        []User          `json:"mentions"`
	MentionRoles    []Snowflake     `json:"mention_roles"`
	Attachments     []Attachment    `json:"attachments"`
	Embeds          json.RawMessage `json:"embeds"`
	Pinned          bool            `json:"pinned"`
	Type            int             `json:"type"`
	Flags           int             `json:"flags"`
	Nonce           json.RawMessage `json:"nonce,omitempty"`
	Components      []any           `json:"components"`
	// EditedAt is the stored edit time (zero: never edited).
	EditedAt time.Time `json:"-"`
}

// VoiceState is a user's voice connection state in a guild.
type VoiceState struct {
	GuildID                 Snowflake     `json:"guild_id"`
	ChannelID               *Snowflake    `json:"channel_id"`
	UserID                  Snowflake     `json:"user_id"`
	Member                  *MemberObject `json:"member,omitempty"`
	SessionID               string        `json:"session_id"`
	Deaf                    bool          `json:"deaf"`
	Mute                    bool          `json:"mute"`
	SelfDeaf                bool          `json:"self_deaf"`
	SelfMute                bool          `json:"self_mute"`
	SelfStream              bool          `json:"self_stream"`
	SelfVideo               bool          `json:"self_video"`
	Suppress                bool          `json:"suppress"`
	RequestToSpeakTimestamp *string       `json:"request_to_speak_timestamp"`
}

// Timestamp formats t as Discord does (ISO 8601 with microseconds).
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
}
