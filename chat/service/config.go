package service

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/parleyhq/parley/chat/registry"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// Config configures a Service. New applies the defaults (withDefaults),
// then validates.
type Config struct {
	// Store persists everything (required).
	Store store.Store
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Registry places voice channels on voice nodes; nil disables voice
	// hand-off.
	Registry registry.Registry
	// VoiceRegion is the preferred region of this control plane's users:
	// a channel without rtc_region is placed in the live region nearest to
	// it (voicectl.Choose). "" prefers none.
	VoiceRegion string
	// Voice applies server mute/deafen/disconnect at the SFU; may be nil.
	Voice voicectl.Controller
	// VoiceSigner issues voice tokens; nil disables voice hand-off.
	VoiceSigner *voicetoken.Signer
	// VoiceTokenTTL is a voice token's lifetime (default 1 h).
	VoiceTokenTTL time.Duration
	// VoiceMoveTimeout is how long a member of a moved call has to reach
	// its new node before it is removed from voice (default 30 s; the
	// registry must know who is connected: voicectl.Presence).
	VoiceMoveTimeout time.Duration
	// Attachments keeps the files attached to messages; nil: messages
	// carry no files (a multipart message is refused).
	Attachments Attachments
	// NoAutoJoin stops new accounts from joining the default guild.
	NoAutoJoin bool
	// PasswordIterations is the PBKDF2 cost (default 100,000).
	PasswordIterations int
	// PasswordHashers bounds the password hashes computed at once (login,
	// registration, password change; default half the cores, at least
	// one); PasswordQueue bounds the callers waiting for one (default 32)
	// and PasswordWait how long each waits (default 5 s) before ErrBusy.
	PasswordHashers, PasswordQueue int
	PasswordWait                   time.Duration
	// TokenIdleTTL is how long a user token lives after its last use
	// (default 30 days); TokenMaxAge is how long it lives at most after
	// the login that issued it (default 365 days). Bot tokens do not
	// expire (they are reset). See tokens.go.
	TokenIdleTTL, TokenMaxAge time.Duration
	// Now is the clock (default time.Now; tests move it).
	Now func() time.Time
	// Worker is the snowflake worker id (0-31).
	Worker uint8
}

// withDefaults returns c with every unset field filled in.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PasswordIterations == 0 {
		c.PasswordIterations = 100_000
	}
	if c.PasswordHashers == 0 {
		c.PasswordHashers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if c.PasswordQueue == 0 {
		c.PasswordQueue = 32
	}
	if c.PasswordWait == 0 {
		c.PasswordWait = 5 * time.Second
	}
	if c.VoiceTokenTTL == 0 {
		c.VoiceTokenTTL = time.Hour
	}
	if c.VoiceMoveTimeout == 0 {
		c.VoiceMoveTimeout = 30 * time.Second
	}
	if c.TokenIdleTTL == 0 {
		c.TokenIdleTTL = 30 * 24 * time.Hour
	}
	if c.TokenMaxAge == 0 {
		c.TokenMaxAge = 365 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the configuration and reports the first problem
// (wrapping ErrConfig). It changes nothing: New applies the defaults
// before it validates.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: no store", ErrConfig)
	case c.PasswordIterations < 0 || c.VoiceTokenTTL < 0 || c.VoiceMoveTimeout < 0 || c.TokenIdleTTL < 0 || c.TokenMaxAge < 0,
		c.PasswordHashers < 0 || c.PasswordQueue < 0 || c.PasswordWait < 0:
		return fmt.Errorf("%w: negative value", ErrConfig)
	}
	return nil
}
