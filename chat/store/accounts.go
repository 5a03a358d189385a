package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// Token is a stored login token: the SHA-256 of the token (never the
// token itself), its user and its lifetime.
type Token struct {
	Hash   []byte
	UserID model.Snowflake
	// IssuedAt is when the token was issued; ExpiresAt when it stops
	// authenticating. Zero means unset: ExpiresAt zero for a token that
	// does not expire (bots), both zero for tokens stored before expiry
	// existed (the service dates them on first use).
	IssuedAt, ExpiresAt time.Time
}

// ---- users ----

// CreateUser inserts a user; ErrConflict if the username is taken in any
// case (model.UsernameKey).
func (s *SQL) CreateUser(ctx context.Context, a Account) error {
	_, err := s.exec(ctx, `INSERT INTO users (id, username, bot, password_hash, name_key) VALUES (?, ?, ?, ?, ?)`,
		id64(a.User.ID), a.User.Username, a.User.Bot, a.PasswordHash, model.UsernameKey(a.User.Username))
	return err
}

// GetUser returns one user.
func (s *SQL) GetUser(ctx context.Context, id model.Snowflake) (model.User, error) {
	var name string
	var bot bool
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT username, bot FROM users WHERE id = ?`), id64(id)).Scan(&name, &bot)
	if err := notFound(err); err != nil {
		return model.User{}, err
	}
	return model.NewUser(id, name, bot), nil
}

// AccountByName returns a user and its password hash: the user with
// exactly this name, else the one whose name matches it case-insensitively
// (model.UsernameKey).
func (s *SQL) AccountByName(ctx context.Context, username string) (Account, error) {
	var id int64
	var a Account
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT id, username, bot, password_hash FROM users WHERE username = ? OR name_key = ?
		ORDER BY CASE WHEN username = ? THEN 0 ELSE 1 END LIMIT 1`), username, model.UsernameKey(username), username).
		Scan(&id, &a.User.Username, &a.User.Bot, &a.PasswordHash)
	if err := notFound(err); err != nil {
		return Account{}, err
	}
	a.User = model.NewUser(model.Snowflake(id), a.User.Username, a.User.Bot)
	return a, nil
}

// ListUsers returns every user.
func (s *SQL) ListUsers(ctx context.Context) ([]model.User, error) {
	rows, err := s.query(ctx, `SELECT id, username, bot FROM users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.User
	for rows.Next() {
		var id int64
		var name string
		var bot bool
		if err := rows.Scan(&id, &name, &bot); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, model.NewUser(model.Snowflake(id), name, bot))
	}
	return out, notFound(rows.Err())
}

// ---- tokens ----

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// PutToken stores a token.
func (s *SQL) PutToken(ctx context.Context, t Token) error {
	_, err := s.exec(ctx, `INSERT INTO tokens (hash, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)`,
		t.Hash, id64(t.UserID), unixMS(t.IssuedAt), unixMS(t.ExpiresAt))
	return err
}

// GetToken returns the token with this hash (ErrNotFound: none).
func (s *SQL) GetToken(ctx context.Context, hash []byte) (Token, error) {
	var id, issued, expires int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT user_id, issued_at, expires_at FROM tokens WHERE hash = ?`), hash).
		Scan(&id, &issued, &expires)
	if err := notFound(err); err != nil {
		return Token{}, err
	}
	return Token{Hash: hash, UserID: model.Snowflake(id), IssuedAt: fromMS(issued), ExpiresAt: fromMS(expires)}, nil
}

// SetTokenLifetime updates a token's issue and expiry times (ErrNotFound:
// it was revoked meanwhile).
func (s *SQL) SetTokenLifetime(ctx context.Context, hash []byte, issued, expires time.Time) error {
	r, err := s.exec(ctx, `UPDATE tokens SET issued_at = ?, expires_at = ? WHERE hash = ?`, unixMS(issued), unixMS(expires), hash)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteToken revokes one token (ErrNotFound: there was none).
func (s *SQL) DeleteToken(ctx context.Context, hash []byte) error {
	r, err := s.exec(ctx, `DELETE FROM tokens WHERE hash = ?`, hash)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteUserTokens revokes every token of a user.
func (s *SQL) DeleteUserTokens(ctx context.Context, user model.Snowflake) error {
	_, err := s.exec(ctx, `DELETE FROM tokens WHERE user_id = ?`, id64(user))
	return err
}

// DeleteExpiredTokens removes the tokens whose expiry is past and returns
// how many.
func (s *SQL) DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	r, err := s.exec(ctx, `DELETE FROM tokens WHERE expires_at <> 0 AND expires_at <= ?`, now.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	return n, nil
}

// ReplaceTokens revokes every token of a user and stores t in their place,
// setting a new password hash first when passwordHash is non-nil: all in
// one transaction (a password change, a bot token reset).
func (s *SQL) ReplaceTokens(ctx context.Context, passwordHash *string, t Token) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if passwordHash != nil {
			r, err := tx.ExecContext(ctx, s.rebind(`UPDATE users SET password_hash = ? WHERE id = ?`), *passwordHash, id64(t.UserID))
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 0 {
				return ErrNotFound
			}
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM tokens WHERE user_id = ?`), id64(t.UserID)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO tokens (hash, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)`),
			t.Hash, id64(t.UserID), unixMS(t.IssuedAt), unixMS(t.ExpiresAt))
		return err
	})
}
