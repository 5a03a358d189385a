package service

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// Register creates a user account and returns it with a token.
func (s *Service) Register(ctx context.Context, username, password string) (model.User, string, error) {
	if err := validUsername(username); err != nil {
		return model.User{}, "", err
	}
	if utf8.RuneCountInString(password) < 8 || len(password) > 512 {
		return model.User{}, "", fieldErr("password", "PASSWORD_TOO_SHORT", "Must be between 8 and 512 in length.")
	}
	u := model.NewUser(s.gen.Next(), username, false)
	return s.createAccount(ctx, store.Account{User: u, PasswordHash: hashPassword(password, s.cfg.PasswordIterations)})
}

// CreateBot creates a bot user and returns it with its token. admin gives it
// the default guild's Admin role.
func (s *Service) CreateBot(ctx context.Context, name string, admin bool) (model.User, string, error) {
	if err := validUsername(name); err != nil {
		return model.User{}, "", err
	}
	u := model.NewUser(s.gen.Next(), name, true)
	u, tok, err := s.createAccount(ctx, store.Account{User: u})
	if err != nil || !admin {
		return u, tok, err
	}
	return u, tok, s.grantAdmin(ctx, u.ID)
}

func validUsername(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 2 || n > 32 || strings.TrimSpace(name) != name || strings.ContainsAny(name, "@#:`") {
		return fieldErr("username", "USERNAME_INVALID", "Username must be 2-32 characters without @ # : `.")
	}
	if strings.EqualFold(name, SystemUsername) {
		return fieldErr("username", "USERNAME_ALREADY_TAKEN", "Username is unavailable.")
	}
	return nil
}

func (s *Service) createAccount(ctx context.Context, a store.Account) (model.User, string, error) {
	if err := s.st.CreateUser(ctx, a); errors.Is(err, store.ErrConflict) {
		return model.User{}, "", fieldErr("username", "USERNAME_ALREADY_TAKEN", "Username is unavailable.")
	} else if err != nil {
		return model.User{}, "", err
	}
	tok, err := s.issueToken(ctx, a.User.ID)
	if err != nil {
		return model.User{}, "", err
	}
	s.mu.Lock()
	s.users[a.User.ID] = a.User
	def := s.defaultGuild
	s.mu.Unlock()
	if !s.cfg.NoAutoJoin && def != 0 {
		if err := s.AddMember(ctx, def, a.User.ID); err != nil {
			return model.User{}, "", err
		}
	}
	return a.User, tok, nil
}

func (s *Service) issueToken(ctx context.Context, user model.Snowflake) (string, error) {
	tok := newToken(user)
	h := tokenHash(tok)
	if err := s.st.PutToken(ctx, h, user); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.tokens[string(h)] = user
	s.mu.Unlock()
	return tok, nil
}

// Login checks a password and returns a new token.
func (s *Service) Login(ctx context.Context, username, password string) (model.User, string, error) {
	a, err := s.st.AccountByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (a.User.Bot || a.PasswordHash == "")) {
		return model.User{}, "", ErrBadLogin
	} else if err != nil {
		return model.User{}, "", err
	}
	if !checkPassword(password, a.PasswordHash) {
		return model.User{}, "", ErrBadLogin
	}
	tok, err := s.issueToken(ctx, a.User.ID)
	return a.User, tok, err
}

// Authenticate resolves an Authorization value: "Bot T", "Bearer T" or T.
func (s *Service) Authenticate(ctx context.Context, auth string) (model.User, error) {
	tok := auth
	for _, p := range []string{"Bot ", "Bearer "} {
		tok = strings.TrimPrefix(tok, p)
	}
	if tok == "" || len(tok) > 256 {
		return model.User{}, ErrUnauthorized
	}
	h := tokenHash(tok)
	s.mu.RLock()
	id, ok := s.tokens[string(h)]
	u, uok := s.users[id]
	s.mu.RUnlock()
	if ok && uok {
		return u, nil
	}
	id, err := s.st.UserByToken(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return model.User{}, ErrUnauthorized
	} else if err != nil {
		return model.User{}, err
	}
	u, err = s.st.GetUser(ctx, id)
	if err != nil {
		return model.User{}, ErrUnauthorized
	}
	s.mu.Lock()
	s.tokens[string(h)] = id
	s.users[id] = u
	s.mu.Unlock()
	return u, nil
}

// User returns a user by id.
func (s *Service) User(id model.Snowflake) (model.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return model.User{}, ErrUnknownUser
	}
	return u, nil
}

// AddMember makes user a member of guild and tells the gateway.
func (s *Service) AddMember(ctx context.Context, guild, user model.Snowflake) error {
	s.mu.RLock()
	gs := s.guilds[guild]
	u, uok := s.users[user]
	_, already := func() (*model.Member, bool) {
		if gs == nil {
			return nil, false
		}
		m, ok := gs.members[user]
		return m, ok
	}()
	s.mu.RUnlock()
	if gs == nil {
		return ErrUnknownGuild
	}
	if !uok {
		return ErrUnknownUser
	}
	if already {
		return nil
	}
	m := model.Member{GuildID: guild, UserID: user, JoinedAt: time.Now().UTC(), Roles: []model.Snowflake{}}
	if err := s.st.PutMember(ctx, m); err != nil {
		return err
	}
	s.mu.Lock()
	gs.members[user] = &m
	s.mu.Unlock()
	obj := m.Object(&u)
	gid := guild
	obj.GuildID = &gid
	d := s.dispatcher()
	d.Dispatch(event("GUILD_MEMBER_ADD", guild, model.IntentGuildMembers, obj))
	if gc, err := s.GuildCreate(guild); err == nil {
		d.JoinGuild(user, guild, gc)
	}
	return nil
}

func (s *Service) grantAdmin(ctx context.Context, user model.Snowflake) error {
	s.mu.Lock()
	gs := s.guilds[s.defaultGuild]
	if gs == nil || gs.members[user] == nil {
		s.mu.Unlock()
		return ErrUnknownMember
	}
	var admin model.Snowflake
	for _, r := range gs.roles {
		if r.Name == "Admin" {
			admin = r.ID
		}
	}
	m := *gs.members[user]
	m.Roles = append(append([]model.Snowflake(nil), m.Roles...), admin)
	s.mu.Unlock()
	if admin == 0 {
		return ErrUnknownGuild
	}
	if err := s.st.PutMember(ctx, m); err != nil {
		return err
	}
	s.mu.Lock()
	gs.members[user] = &m
	s.mu.Unlock()
	return nil
}
