package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// accounts is the in-memory copy of users and token hashes (write-through:
// the store holds the truth, a token missing here is looked up there).
type accounts struct {
	mu sync.RWMutex
	// Guarded by mu:
	users  map[model.Snowflake]model.User
	tokens map[string]model.Snowflake // sha256(token) → user
}

func newAccounts() *accounts {
	return &accounts{users: map[model.Snowflake]model.User{}, tokens: map[string]model.Snowflake{}}
}

// user returns a user by id.
func (a *accounts) user(id model.Snowflake) (model.User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	u, ok := a.users[id]
	return u, ok
}

// put adds or replaces a user.
func (a *accounts) put(u model.User) {
	a.mu.Lock()
	a.users[u.ID] = u
	a.mu.Unlock()
}

// byToken returns the user a token hash belongs to, if both are cached.
func (a *accounts) byToken(hash []byte) (model.User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.tokens[string(hash)]
	u, uok := a.users[id]
	return u, ok && uok
}

// putToken records a token hash for a user.
func (a *accounts) putToken(hash []byte, user model.Snowflake) {
	a.mu.Lock()
	a.tokens[string(hash)] = user
	a.mu.Unlock()
}

// memberObjects renders members with their users, under one read lock.
func (a *accounts) memberObjects(ms []model.Member) []model.MemberObject {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]model.MemberObject, len(ms))
	for i, m := range ms {
		u := a.users[m.UserID]
		out[i] = m.Object(&u)
	}
	return out
}

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
	s.accounts.put(a.User)
	if def := s.graph.defaultID(); !s.cfg.NoAutoJoin && def != 0 {
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
	s.accounts.putToken(h, user)
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
	if u, ok := s.accounts.byToken(h); ok {
		return u, nil
	}
	id, err := s.st.UserByToken(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return model.User{}, ErrUnauthorized
	} else if err != nil {
		return model.User{}, err
	}
	u, err := s.st.GetUser(ctx, id)
	if err != nil {
		return model.User{}, ErrUnauthorized
	}
	s.accounts.put(u)
	s.accounts.putToken(h, id)
	return u, nil
}

// User returns a user by id.
func (s *Service) User(id model.Snowflake) (model.User, error) {
	u, ok := s.accounts.user(id)
	if !ok {
		return model.User{}, ErrUnknownUser
	}
	return u, nil
}
