package chat

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/parleyhq/parley/chat/gateway"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// Config configures a chat Server. New applies the defaults
// (withDefaults), then validates.
type Config struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	Store  store.Config
	// APIAddr and GatewayAddr are listen addresses (port 0 picks one;
	// default "127.0.0.1:0").
	APIAddr, GatewayAddr string
	// PublicHost overrides the host in the gateway URL (default: the
	// listener's address).
	PublicHost string
	// Voice is the SFU's control interface (nil: no moderation reaches it).
	Voice voicectl.Controller
	// VoiceEndpoint is the local voice node's host:port, held by the
	// embedded registry; empty (and no Registry) disables hand-off.
	VoiceEndpoint string
	// Registry places voice channels on a fleet of voice nodes (the etcd
	// registry of package fleet); nil: the embedded registry with the
	// local node at VoiceEndpoint.
	Registry voicectl.Registry
	// VoiceRegion names the embedded node's region and the region this
	// control plane's users prefer (default "local").
	VoiceRegion string
	// VoiceMoveTimeout is how long a member of a moved call has to reach
	// its new voice node before it is removed from voice (default 30 s).
	VoiceMoveTimeout time.Duration
	// VoiceKey is the voice token HMAC key (datadir key voicetoken.KeyName).
	VoiceKey []byte
	// VoiceIssuer, if set, is the fleet's current Ed25519 key (changing on
	// rotation: fleet.KeyRing.Current) that voice tokens are signed with
	// while it returns one; else VoiceKey signs them.
	VoiceIssuer func() *voicetoken.SigningKey
	// VoiceTokenTTL is a voice token's lifetime (default 1 h).
	VoiceTokenTTL time.Duration
	// AdminKey authorises local admin routes (`parley bot create`).
	AdminKey []byte
	// NoAutoJoin keeps new accounts out of the default guild.
	NoAutoJoin bool
	// Attachments keeps the files attached to messages (cmd/parley adapts
	// the media proxy's store); nil: a message with files is refused
	// (400, "attachments are not enabled on this server").
	Attachments service.Attachments
	// MaxFiles bounds the files of one message (default
	// rest.DefaultMaxFiles, 10) and MaxFileBytes each file (default
	// rest.DefaultMaxFileBytes, 25 MiB); the attachment store may refuse
	// less.
	MaxFiles     int
	MaxFileBytes int64
	// SpoolDir holds the files of a message being received until they are
	// stored (rest.Config.SpoolDir; default the system's temporary
	// directory).
	SpoolDir string
	// Gateway and REST tuning (zero values take their defaults; their
	// Backend/Service, Logger, listeners, URLs and AdminKey are set by New).
	Gateway gateway.Config
	REST    rest.Config
	// PasswordIterations is the PBKDF2 cost (tests lower it).
	PasswordIterations int
	// OpenTimeout bounds opening the store and loading its state in New
	// (default 30 s).
	OpenTimeout time.Duration
}

// withDefaults returns c with every unset field filled in.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.APIAddr == "" {
		c.APIAddr = "127.0.0.1:0"
	}
	if c.GatewayAddr == "" {
		c.GatewayAddr = "127.0.0.1:0"
	}
	if c.VoiceRegion == "" {
		c.VoiceRegion = "local"
	}
	if c.REST.MaxConcurrency == 0 {
		// /gateway/bot advertises the gateway's identify burst.
		c.REST.MaxConcurrency = c.Gateway.IdentifyBurst
		if c.REST.MaxConcurrency == 0 {
			c.REST.MaxConcurrency = gateway.DefaultIdentifyBurst
		}
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = 30 * time.Second
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = rest.DefaultMaxFiles
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = rest.DefaultMaxFileBytes
	}
	return c
}

// Validate checks the configuration and reports the first problem
// (wrapping ErrConfig or store.ErrConfig). It changes nothing: New applies
// the defaults before it validates.
func (c Config) Validate() error {
	if (c.VoiceEndpoint != "" || c.Registry != nil) && len(c.VoiceKey) < 32 {
		return fmt.Errorf("%w: voice endpoint or registry without a 32-byte voice key", ErrConfig)
	}
	if c.OpenTimeout < 0 {
		return fmt.Errorf("%w: negative open timeout", ErrConfig)
	}
	if c.MaxFiles < 0 || c.MaxFileBytes < 0 {
		return fmt.Errorf("%w: negative attachment limit", ErrConfig)
	}
	return c.Store.Validate()
}
