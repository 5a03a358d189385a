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

// Token lifetimes. Tokens keep Discord's shape (newToken) and are sent as
// "Bot T", "Bearer T" or T. A bot token does not expire: it is reset
// (ResetBotToken), which revokes the old one. A user token expires
// Config.TokenIdleTTL after its last use (each use slides the expiry,
// written back at most once per tokenSlideStep, so a client in daily use
// never sees it expire) and at the latest Config.TokenMaxAge after it was
// issued by a login; Logout revokes one token, LogoutAll and a password
// change all of a user's. Every revocation and expiry also closes the
// gateway sessions the token opened (Dispatcher.CloseSessions, close 4004).
// Tokens stored before lifetimes existed are dated from their first use.
const (
	tokenSlideStep = time.Hour
	// tokenPurgeEvery is how often issuing a token also deletes the
	// expired ones from the store.
	tokenPurgeEvery = time.Hour
)

// tokenID is the id of a token: its SHA-256.
func tokenID(tok string) model.TokenID { return model.TokenID(tokenHash(tok)) }

// issueToken stores and returns a new token for u (its lifetime by the
// rules above).
func (s *Service) issueToken(ctx context.Context, u model.User) (string, error) {
	tok, rec := s.newToken(u)
	if err := s.st.PutToken(ctx, rec); err != nil {
		return "", err
	}
	s.accounts.putToken(model.TokenID(rec.Hash), cachedToken{user: u.ID, issued: rec.IssuedAt, expires: rec.ExpiresAt})
	s.purgeExpired(ctx, rec.IssuedAt)
	return tok, nil
}

// newToken makes a token for u and its store record.
func (s *Service) newToken(u model.User) (string, store.Token) {
	tok := newToken(u.ID)
	now := s.cfg.Now()
	rec := store.Token{Hash: tokenHash(tok), UserID: u.ID, IssuedAt: now}
	if !u.Bot {
		rec.ExpiresAt = now.Add(min(s.cfg.TokenIdleTTL, s.cfg.TokenMaxAge))
	}
	return tok, rec
}

// purgeExpired deletes expired tokens from the store and the cache, at most
// once per tokenPurgeEvery.
func (s *Service) purgeExpired(ctx context.Context, now time.Time) {
	last := s.lastPurge.Load()
	if now.UnixNano()-last < int64(tokenPurgeEvery) || !s.lastPurge.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := s.st.DeleteExpiredTokens(ctx, now); err != nil {
		s.log.Warn("purge expired tokens", "err", err)
	}
	s.accounts.dropTokens(func(_ model.TokenID, t cachedToken) bool {
		return !t.expires.IsZero() && !now.Before(t.expires)
	})
}

// Authenticate resolves an Authorization value ("Bot T", "Bearer T" or T)
// to its user and token. A bad, revoked or expired token is
// ErrUnauthorized. Each use slides a user token's expiry.
func (s *Service) Authenticate(ctx context.Context, auth string) (model.Auth, error) {
	tok := auth
	for _, p := range []string{"Bot ", "Bearer "} {
		tok = strings.TrimPrefix(tok, p)
	}
	if tok == "" || len(tok) > 256 {
		return model.Auth{}, ErrUnauthorized
	}
	return s.CheckToken(ctx, tokenID(tok))
}

// CheckToken authenticates by token id (the gateway re-checks its
// sessions' tokens with it); it is a use of the token like Authenticate.
func (s *Service) CheckToken(ctx context.Context, id model.TokenID) (model.Auth, error) {
	ct, revs, ok := s.accounts.token(id)
	if !ok {
		rec, err := s.st.GetToken(ctx, id[:])
		if errors.Is(err, store.ErrNotFound) {
			return model.Auth{}, ErrUnauthorized
		} else if err != nil {
			return model.Auth{}, err
		}
		if _, known := s.accounts.user(rec.UserID); !known {
			u, err := s.st.GetUser(ctx, rec.UserID)
			if err != nil {
				return model.Auth{}, ErrUnauthorized
			}
			s.accounts.put(u)
		}
		ct = cachedToken{user: rec.UserID, issued: rec.IssuedAt, expires: rec.ExpiresAt}
		s.accounts.putTokenIf(id, ct, revs)
	}
	u, ok := s.accounts.user(ct.user)
	if !ok {
		return model.Auth{}, ErrUnauthorized
	}
	ct, err := s.useToken(ctx, id, ct, u)
	if err != nil {
		return model.Auth{}, err
	}
	return model.Auth{User: u, Token: id, Expires: ct.expires}, nil
}

// useToken applies the lifetime rules to a token being used: an expired
// user token is revoked (ErrUnauthorized), a live one's expiry slides.
func (s *Service) useToken(ctx context.Context, id model.TokenID, ct cachedToken, u model.User) (cachedToken, error) {
	if u.Bot {
		return ct, nil
	}
	now := s.cfg.Now()
	if ct.expires.IsZero() { // stored before lifetimes: dated from now
		ct.issued = now
	} else if !now.Before(ct.expires) {
		s.revoke(ctx, u.ID, &id)
		return ct, ErrUnauthorized
	}
	exp := now.Add(s.cfg.TokenIdleTTL)
	if last := ct.issued.Add(s.cfg.TokenMaxAge); last.Before(exp) {
		exp = last
	}
	if !ct.expires.IsZero() && exp.Sub(ct.expires) < tokenSlideStep {
		return ct, nil // not worth a write
	}
	ct.expires = exp
	switch err := s.st.SetTokenLifetime(ctx, id[:], ct.issued, ct.expires); {
	case errors.Is(err, store.ErrNotFound): // revoked meanwhile
		s.accounts.dropTokens(func(x model.TokenID, _ cachedToken) bool { return x == id })
		return ct, ErrUnauthorized
	case err != nil:
		s.log.Warn("token expiry not moved", "user", u.ID, "err", err)
		return ct, nil
	}
	s.accounts.putToken(id, ct)
	return ct, nil
}

// revoke deletes a user's token (nil: all of them) from the store and the
// cache, then closes the gateway sessions they opened.
func (s *Service) revoke(ctx context.Context, user model.Snowflake, id *model.TokenID) error {
	var err error
	if id != nil {
		if err = s.st.DeleteToken(ctx, id[:]); errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	} else {
		err = s.st.DeleteUserTokens(ctx, user)
	}
	if err != nil {
		return err
	}
	s.forget(user, id)
	return nil
}

// forget drops revoked tokens from the cache and closes their sessions.
func (s *Service) forget(user model.Snowflake, id *model.TokenID) {
	s.accounts.dropTokens(func(x model.TokenID, t cachedToken) bool {
		return t.user == user && (id == nil || x == *id)
	})
	s.dispatcher().CloseSessions(user, id)
}

// Logout is POST /auth/logout: the token used is revoked.
func (s *Service) Logout(ctx context.Context, a model.Auth) error {
	return s.revoke(ctx, a.User.ID, &a.Token)
}

// LogoutAll is POST /auth/logout-all: every token of the user is revoked.
func (s *Service) LogoutAll(ctx context.Context, a model.Auth) error {
	return s.revoke(ctx, a.User.ID, nil)
}

// ChangePassword is PATCH /users/@me with password and new_password: the
// current password is checked, every token of the user revoked, and a new
// token returned (as Discord does).
func (s *Service) ChangePassword(ctx context.Context, user model.Snowflake, current, next string) (model.User, string, error) {
	if err := validPassword("new_password", next); err != nil {
		return model.User{}, "", err
	}
	u, ok := s.accounts.user(user)
	if !ok {
		return model.User{}, "", ErrUnauthorized
	}
	a, err := s.st.AccountByName(ctx, u.Username)
	if err != nil || a.User.ID != user || a.PasswordHash == "" || len(current) > maxPassword {
		return model.User{}, "", ErrBadPassword
	}
	var match bool
	var hash string
	if err := s.hashers.do(ctx, func() {
		if match = checkPassword(current, a.PasswordHash); match {
			hash = hashPassword(next, s.cfg.PasswordIterations)
		}
	}); err != nil {
		return model.User{}, "", err
	}
	if !match {
		return model.User{}, "", ErrBadPassword
	}
	tok, rec := s.newToken(u)
	if err := s.st.ReplaceTokens(ctx, &hash, rec); err != nil {
		return model.User{}, "", err
	}
	s.forget(user, nil)
	s.accounts.putToken(model.TokenID(rec.Hash), cachedToken{user: user, issued: rec.IssuedAt, expires: rec.ExpiresAt})
	return u, tok, nil
}

// ResetBotToken revokes every token of the bot named name and returns a
// new one (`parley bot reset`; Discord's Reset Token).
func (s *Service) ResetBotToken(ctx context.Context, name string) (model.User, string, error) {
	a, err := s.st.AccountByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.User.Bot) {
		return model.User{}, "", ErrUnknownUser
	} else if err != nil {
		return model.User{}, "", err
	}
	tok, rec := s.newToken(a.User)
	if err := s.st.ReplaceTokens(ctx, nil, rec); err != nil {
		return model.User{}, "", err
	}
	s.accounts.put(a.User)
	s.forget(a.User.ID, nil)
	s.accounts.putToken(model.TokenID(rec.Hash), cachedToken{user: a.User.ID, issued: rec.IssuedAt})
	return a.User, tok, nil
}

// maxPassword is the longest password accepted (bytes).
const maxPassword = 512

// validPassword checks a new password's length.
func validPassword(field, pw string) error {
	if utf8.RuneCountInString(pw) < 8 || len(pw) > maxPassword {
		return fieldErr(field, "PASSWORD_TOO_SHORT", "Must be between 8 and 512 in length.")
	}
	return nil
}
