package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/registry"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/chat/voicestate"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// Dispatcher delivers events to gateway sessions; chat/gateway.Server
// implements it (chat.New connects the two).
type Dispatcher interface {
	Dispatch(ev *model.Event)
	DispatchUser(user model.Snowflake, ev *model.Event)
	DispatchSession(id string, ev *model.Event) bool
	JoinGuild(user, guild model.Snowflake, guildCreate []byte)
	LeaveGuild(user, guild model.Snowflake)
}

// Config configures a Service.
type Config struct {
	Store store.Store
	Log   *slog.Logger
	// Registry chooses voice nodes; nil disables voice hand-off.
	Registry registry.Registry
	// Voice applies server mute/deafen/disconnect at the SFU; may be nil.
	Voice voicectl.Controller
	// VoiceSigner issues voice tokens; nil disables voice hand-off.
	VoiceSigner *voicetoken.Signer
	// VoiceTokenTTL is a voice token's lifetime (default 1 h).
	VoiceTokenTTL time.Duration
	// NoAutoJoin stops new accounts from joining the default guild.
	NoAutoJoin bool
	// PasswordIterations is the PBKDF2 cost (default 100,000).
	PasswordIterations int
	// Worker is the snowflake worker id (0-31).
	Worker uint8
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Store == nil || c.Log == nil {
		return fmt.Errorf("%w: store and log are required", ErrConfig)
	}
	if c.PasswordIterations < 0 || c.VoiceTokenTTL < 0 {
		return fmt.Errorf("%w: negative value", ErrConfig)
	}
	return nil
}

// guildState is the in-memory copy of one guild.
type guildState struct {
	guild    model.Guild
	channels map[model.Snowflake]*model.Channel
	roles    []model.Role
	members  map[model.Snowflake]*model.Member
}

// Service is the chat logic. Create with New.
type Service struct {
	cfg   Config
	st    store.Store
	log   *slog.Logger
	gen   *model.Generator
	voice *voicestate.Tracker

	dmu sync.RWMutex
	// disp is guarded by dmu (set once after the gateway exists).
	disp Dispatcher

	mu sync.RWMutex
	// Guarded by mu:
	users        map[model.Snowflake]model.User
	tokens       map[string]model.Snowflake // sha256(token) → user
	guilds       map[model.Snowflake]*guildState
	channelGuild map[model.Snowflake]model.Snowflake
	defaultGuild model.Snowflake
	presence     map[model.Snowflake]string
}

// New loads the guild graph from the store, seeding a fresh store with the
// "Parley" guild (#general and the Lounge voice channel).
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PasswordIterations == 0 {
		cfg.PasswordIterations = 100_000
	}
	if cfg.VoiceTokenTTL == 0 {
		cfg.VoiceTokenTTL = time.Hour
	}
	s := &Service{
		cfg: cfg, st: cfg.Store, log: cfg.Log, gen: model.NewGenerator(cfg.Worker, 0), voice: voicestate.New(),
		users: map[model.Snowflake]model.User{}, tokens: map[string]model.Snowflake{},
		guilds: map[model.Snowflake]*guildState{}, channelGuild: map[model.Snowflake]model.Snowflake{},
		presence: map[model.Snowflake]string{},
	}
	if err := s.seed(ctx); err != nil {
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// SetDispatcher connects the gateway.
func (s *Service) SetDispatcher(d Dispatcher) {
	s.dmu.Lock()
	s.disp = d
	s.dmu.Unlock()
}

func (s *Service) dispatcher() Dispatcher {
	s.dmu.RLock()
	defer s.dmu.RUnlock()
	if s.disp == nil {
		return nopDispatcher{}
	}
	return s.disp
}

type nopDispatcher struct{}

func (nopDispatcher) Dispatch(*model.Event)                              {}
func (nopDispatcher) DispatchUser(model.Snowflake, *model.Event)         {}
func (nopDispatcher) DispatchSession(string, *model.Event) bool          { return false }
func (nopDispatcher) JoinGuild(model.Snowflake, model.Snowflake, []byte) {}
func (nopDispatcher) LeaveGuild(model.Snowflake, model.Snowflake)        {}

const (
	metaSeeded = "seeded_guild"
	// SystemUsername is the reserved owner of the seeded guild.
	SystemUsername = "parley"
)

// seed creates the default guild once.
func (s *Service) seed(ctx context.Context) error {
	if _, err := s.st.GetMeta(ctx, metaSeeded); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	owner := model.NewUser(s.gen.Next(), SystemUsername, false)
	owner.System = true
	if err := s.st.CreateUser(ctx, store.Account{User: owner}); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	gid := s.gen.Next()
	general, lounge, admin := s.gen.Next(), s.gen.Next(), s.gen.Next()
	g := model.Guild{ID: gid, Name: "Parley", OwnerID: owner.ID, SystemChannelID: &general}
	if err := s.st.PutGuild(ctx, g); err != nil {
		return err
	}
	chans := []model.Channel{
		{ID: general, GuildID: gid, Type: model.ChannelText, Name: "general", PermissionOverwrites: []model.Overwrite{}},
		{ID: lounge, GuildID: gid, Type: model.ChannelVoice, Name: "Lounge", Position: 1, Bitrate: 64000, PermissionOverwrites: []model.Overwrite{}},
	}
	for _, c := range chans {
		if err := s.st.PutChannel(ctx, c); err != nil {
			return err
		}
	}
	roles := []model.Role{
		{ID: gid, Name: "@everyone", Permissions: fmt.Sprint(model.PermsEveryoneDefault)},
		{ID: admin, Name: "Admin", Position: 1, Permissions: fmt.Sprint(model.PermAdministrator | model.PermsEveryoneDefault), Hoist: true},
	}
	for _, r := range roles {
		if err := s.st.PutRole(ctx, gid, r); err != nil {
			return err
		}
	}
	if err := s.st.PutMember(ctx, model.Member{GuildID: gid, UserID: owner.ID, JoinedAt: time.Now().UTC()}); err != nil {
		return err
	}
	return s.st.SetMeta(ctx, metaSeeded, gid.String())
}

// load reads users and the guild graph into memory.
func (s *Service) load(ctx context.Context) error {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return err
	}
	guilds, err := s.st.ListGuilds(ctx)
	if err != nil {
		return err
	}
	def, _ := s.st.GetMeta(ctx, metaSeeded)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		if u.Username == SystemUsername {
			u.System = true
		}
		s.users[u.ID] = u
	}
	if id, err := model.ParseSnowflake(def); err == nil {
		s.defaultGuild = id
	}
	for _, g := range guilds {
		gs := &guildState{guild: g, channels: map[model.Snowflake]*model.Channel{}, members: map[model.Snowflake]*model.Member{}}
		chans, err := s.st.ListChannels(ctx, g.ID)
		if err != nil {
			return err
		}
		for i := range chans {
			c := chans[i]
			if c.Type == model.ChannelText {
				if last, err := s.st.ListMessages(ctx, c.ID, store.Page{Limit: 1}); err == nil && len(last) == 1 {
					id := last[0].ID
					c.LastMessageID = &id
				}
			}
			gs.channels[c.ID] = &c
			s.channelGuild[c.ID] = g.ID
		}
		if gs.roles, err = s.st.ListRoles(ctx, g.ID); err != nil {
			return err
		}
		members, err := s.st.ListMembers(ctx, g.ID)
		if err != nil {
			return err
		}
		for i := range members {
			m := members[i]
			gs.members[m.UserID] = &m
		}
		s.guilds[g.ID] = gs
	}
	return nil
}

// DefaultGuild is the seeded guild's id.
func (s *Service) DefaultGuild() model.Snowflake {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.defaultGuild
}

// event encodes d (our own types, which always encode; a failure yields
// d = null rather than a panic).
func event(name string, guild model.Snowflake, intent model.Intent, d any) *model.Event {
	ev, err := model.NewEvent(name, guild, intent, d)
	if err != nil {
		ev, _ = model.NewEvent(name, guild, intent, nil)
	}
	return ev
}
