package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// accounts is the in-memory copy of users and tokens (write-through: the
// store holds the truth, a token missing here is looked up there).
type accounts struct {
	mu sync.RWMutex
	// Guarded by mu:
	users  map[model.Snowflake]cachedUser
	tokens map[model.TokenID]cachedToken
	// revocations counts revocations, so a token read from the store
	// before a revocation is not cached after it (putTokenIf).
	revocations uint64
}

// cachedUser is a user and its username's key (model.UsernameKey),
// computed once when cached, for op 8's prefix search.
type cachedUser struct {
	user model.User
	key  string
}

// cachedToken is a token's user and lifetime (store.Token without the hash).
type cachedToken struct {
	user            model.Snowflake
	issued, expires time.Time
}

func newAccounts() *accounts {
	return &accounts{users: map[model.Snowflake]cachedUser{}, tokens: map[model.TokenID]cachedToken{}}
}

// user returns a user by id.
func (a *accounts) user(id model.Snowflake) (model.User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	u, ok := a.users[id]
	return u.user, ok
}

// put adds or replaces a user.
func (a *accounts) put(u model.User) {
	key := model.UsernameKey(u.Username)
	a.mu.Lock()
	a.users[u.ID] = cachedUser{user: u, key: key}
	a.mu.Unlock()
}

// token returns a cached token, the revocation count to pass to
// putTokenIf when it is not cached.
func (a *accounts) token(id model.TokenID) (cachedToken, uint64, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	t, ok := a.tokens[id]
	return t, a.revocations, ok
}

// putToken caches a token (just issued, or its lifetime moved).
func (a *accounts) putToken(id model.TokenID, t cachedToken) {
	a.mu.Lock()
	a.tokens[id] = t
	a.mu.Unlock()
}

// putTokenIf caches a token read from the store unless a revocation
// happened since token reported revs.
func (a *accounts) putTokenIf(id model.TokenID, t cachedToken, revs uint64) {
	a.mu.Lock()
	if a.revocations == revs {
		a.tokens[id] = t
	}
	a.mu.Unlock()
}

// dropTokens forgets the tokens that match (a revocation).
func (a *accounts) dropTokens(match func(model.TokenID, cachedToken) bool) {
	a.mu.Lock()
	a.revocations++
	for id, t := range a.tokens {
		if match(id, t) {
			delete(a.tokens, id)
		}
	}
	a.mu.Unlock()
}

// memberObjects renders members with their users, under one read lock.
func (a *accounts) memberObjects(ms []model.Member) []model.MemberObject {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]model.MemberObject, len(ms))
	for i, m := range ms {
		u := a.users[m.UserID].user
		out[i] = m.Object(&u)
	}
	return out
}

// memberObjectsMatching renders, in order, the first limit of ms whose
// username key starts with prefix (a key itself; "" matches all), under
// one read lock. Only the matches are rendered.
func (a *accounts) memberObjectsMatching(ms []model.Member, prefix string, limit int) []model.MemberObject {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := []model.MemberObject{}
	for _, m := range ms {
		if len(out) == limit {
			break
		}
		if cu := a.users[m.UserID]; prefix == "" || strings.HasPrefix(cu.key, prefix) {
			out = append(out, m.Object(&cu.user))
		}
	}
	return out
}

// Register creates a user account and returns it with a token.
func (s *Service) Register(ctx context.Context, username, password string) (model.User, string, error) {
	username, err := checkUsername(username)
	if err != nil {
		return model.User{}, "", err
	}
	if err := validPassword("password", password); err != nil {
		return model.User{}, "", err
	}
	var hash string
	if err := s.hashers.do(ctx, func() { hash = hashPassword(password, s.cfg.PasswordIterations) }); err != nil {
		return model.User{}, "", err
	}
	u := model.NewUser(s.gen.Next(), username, false)
	return s.createAccount(ctx, store.Account{User: u, PasswordHash: hash})
}

// CreateBot creates a bot user and returns it with its token. admin gives it
// the default guild's Admin role.
func (s *Service) CreateBot(ctx context.Context, name string, admin bool) (model.User, string, error) {
	name, err := checkUsername(name)
	if err != nil {
		return model.User{}, "", err
	}
	u := model.NewUser(s.gen.Next(), name, true)
	u, tok, err := s.createAccount(ctx, store.Account{User: u})
	if err != nil || !admin {
		return u, tok, err
	}
	return u, tok, s.grantAdmin(ctx, u.ID)
}

func (s *Service) createAccount(ctx context.Context, a store.Account) (model.User, string, error) {
	if err := s.st.CreateUser(ctx, a); errors.Is(err, store.ErrConflict) {
		return model.User{}, "", fieldErr("username", "USERNAME_ALREADY_TAKEN", "Username is unavailable.")
	} else if err != nil {
		return model.User{}, "", err
	}
	tok, err := s.issueToken(ctx, a.User)
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

// Login checks a password and returns a new token. It does the same work
// whether the name exists or not: a name without a password (no such user,
// a bot) is checked against dummyHash, through the same bounded hasher,
// so neither the time nor the answer (ErrBadLogin) tells them apart. A
// busy hasher is ErrBusy. Attempt limits are the transport's (chat/rest).
func (s *Service) Login(ctx context.Context, login, password string) (model.User, string, error) {
	if len(password) > maxPassword {
		return model.User{}, "", ErrBadLogin // no account has one: nothing to compare
	}
	var a store.Account
	var err error
	if len(login) <= maxNameInput {
		a, err = s.st.AccountByName(ctx, norm.NFKC.String(login))
	} else {
		err = store.ErrNotFound
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return model.User{}, "", err
	}
	stored, real := a.PasswordHash, err == nil && !a.User.Bot && a.PasswordHash != ""
	if !real {
		stored = s.dummy
	}
	var match bool
	if err := s.hashers.do(ctx, func() { match = checkPassword(password, stored) }); err != nil {
		return model.User{}, "", err
	}
	if !real || !match {
		return model.User{}, "", ErrBadLogin
	}
	tok, err := s.issueToken(ctx, a.User)
	return a.User, tok, err
}

// User returns a user by id.
func (s *Service) User(id model.Snowflake) (model.User, error) {
	u, ok := s.accounts.user(id)
	if !ok {
		return model.User{}, ErrUnknownUser
	}
	return u, nil
}
