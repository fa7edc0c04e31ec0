package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// DefaultPasswordCost is bcrypt's work factor unless the deployment sets
// another (serve --password-cost): about 50 ms per hash on this class of
// machine, which makes offline guessing slow and keeps memory flat
// (argon2id would need tens of MiB per concurrent login).
const DefaultPasswordCost = 11

// SetPasswordCost sets bcrypt's work factor for passwords set from now on
// (existing hashes keep theirs) and for the stand-in hash an unknown
// username is checked against. Call it before the DB serves logins.
// Tests lower it: under the race detector a cost-11 hash takes over a
// second.
func (d *DB) SetPasswordCost(cost int) {
	d.passwordCost = max(bcrypt.MinCost, min(cost, bcrypt.MaxCost))
}

// checkUnknownUser spends on an unknown username the work of one
// password check at the DB's cost, so that a failed login takes as long
// whether or not the user exists. It compares against a stand-in hash,
// made at the first such login (not when the program starts, which every
// server and test binary paid for); making it is that login's one check,
// as bcrypt's cost is the same one key expansion either way.
func (d *DB) checkUnknownUser(password string) {
	if h := d.dummy.Load(); h != nil {
		if cost, _ := bcrypt.Cost(*h); cost == d.passwordCost {
			bcrypt.CompareHashAndPassword(*h, []byte(password))
			return
		}
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("siteinspect-no-such-user"), d.passwordCost)
	d.dummy.Store(&hash)
}

// CreateUser adds an account. It returns ErrConflict when the username is
// taken and ErrInvalid for a bad role, username or short password.
func (d *DB) CreateUser(ctx context.Context, username, password string, role domain.Role, displayName, org string) (*domain.User, error) {
	u, hash, err := d.newUser(username, password, role, displayName, org)
	if err != nil {
		return nil, err
	}
	_, err = d.exec(ctx, insertUser, u.ID, u.Username, hash, string(u.Role), u.DisplayName, u.Org, ms(u.CreatedAt), nullString(u.UnitID))
	return u, userInsertError(d.dialect, err, u.Username)
}

const insertUser = `INSERT INTO users (id, username, password_hash, role, display_name, org, created_at, unit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// userInsertError translates the refusal of a taken username (SQLSTATE
// 23505, SQLite's constraint code) into username_taken.
func userInsertError(dialect Dialect, err error, username string) error {
	if err == nil {
		return nil
	}
	if dialect.IsUniqueViolation(err) {
		return domain.Coded(domain.ErrConflict, "username_taken", fmt.Sprintf("username %q is taken", username))
	}
	return fmt.Errorf("create user: %w", err)
}

// newUser checks a new account's fields and hashes its password.
func (d *DB) newUser(username, password string, role domain.Role, displayName, org string) (*domain.User, string, error) {
	username = strings.TrimSpace(username)
	switch {
	case !role.Valid():
		return nil, "", domain.Coded(domain.ErrInvalid, "unknown_role", fmt.Sprintf("unknown role %q: want applicant, inspector, reviewer, supervisor or admin", role))
	case username == "" || utf8.RuneCountInString(username) > 64 || strings.ContainsAny(username, " \t\r\n/"):
		return nil, "", domain.Coded(domain.ErrInvalid, "username_invalid", "username must be 1 to 64 characters without spaces or slashes")
	}
	if err := checkPassword(password); err != nil {
		return nil, "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), d.passwordCost)
	if err != nil {
		return nil, "", fmt.Errorf("hash password: %w", err)
	}
	if displayName == "" {
		displayName = username
	}
	u := &domain.User{ID: domain.NewID(), Username: username, Role: role, DisplayName: displayName, Org: org, CreatedAt: d.now().UTC().Truncate(time.Millisecond)}
	return u, string(hash), nil
}

// checkPassword refuses a password bcrypt would cut (over 72 bytes) or
// shorter than domain.MinPasswordLength.
func checkPassword(password string) error {
	switch {
	case utf8.RuneCountInString(password) < domain.MinPasswordLength:
		return domain.Coded(domain.ErrInvalid, "password_length", fmt.Sprintf("password must have at least %d characters", domain.MinPasswordLength))
	case len(password) > 72:
		return domain.Coded(domain.ErrInvalid, "password_length", "password must have at most 72 bytes")
	}
	return nil
}

const userColumns = `id, username, role, display_name, org, created_at, unit_id, disabled_at`

// userScan is where a row of userColumns goes; done finishes u.
type userScan struct {
	u        domain.User
	created  int64
	unit     sql.NullString
	disabled sql.NullInt64
}

func (s *userScan) dest() []any {
	return []any{&s.u.ID, &s.u.Username, &s.u.Role, &s.u.DisplayName, &s.u.Org, &s.created, &s.unit, &s.disabled}
}

func (s *userScan) done() *domain.User {
	s.u.CreatedAt = time.UnixMilli(s.created).UTC()
	s.u.UnitID = s.unit.String
	s.u.DisabledAt = fromMS(s.disabled)
	return &s.u
}

func scanUser(row scanner) (*domain.User, error) {
	var s userScan
	if err := row.Scan(s.dest()...); err != nil {
		return nil, err
	}
	return s.done(), nil
}

// UserByID returns the user or ErrNotFound.
func (d *DB) UserByID(ctx context.Context, id string) (*domain.User, error) {
	u, err := scanUser(d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, notFound(err, "user "+id)
}

// UserCount returns how many accounts exist.
func (d *DB) UserCount(ctx context.Context) (int, error) {
	var n int
	err := d.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// Authenticate checks a username and password. A wrong password and an
// unknown user both return ErrNotFound, after the same amount of work.
func (d *DB) Authenticate(ctx context.Context, username, password string) (*domain.User, error) {
	var hash string
	var us userScan
	err := d.queryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE username = ?`, username).
		Scan(append(us.dest(), &hash)...)
	if errors.Is(err, sql.ErrNoRows) {
		d.checkUnknownUser(password)
		return nil, domain.Coded(domain.ErrNotFound, "bad_credentials", "wrong username or password")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return nil, domain.Coded(domain.ErrNotFound, "bad_credentials", "wrong username or password")
	}
	u := us.done()
	// Told only to who knows the password: the account exists but an
	// admin disabled it.
	if u.DisabledAt != nil {
		return nil, domain.Coded(domain.ErrForbidden, domain.CodeAccountDisabled, "this account is disabled; ask the office's administrator")
	}
	return u, nil
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateSession starts a session for the user and returns its opaque token.
// Only the token's SHA-256 is stored, so a leaked database holds no usable
// tokens.
func (d *DB) CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, *domain.Session, error) {
	token := randomToken()
	now := d.now()
	s := &domain.Session{CSRFToken: randomToken(), ExpiresAt: now.Add(ttl).UTC().Truncate(time.Millisecond)}
	_, err := d.exec(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash(token), userID, s.CSRFToken, ms(now), ms(s.ExpiresAt))
	if err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	u, err := d.UserByID(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	s.User = u
	return token, s, nil
}

// SessionByToken returns the live session for a token, or ErrNotFound when
// it is unknown, revoked or expired.
func (d *DB) SessionByToken(ctx context.Context, token string) (*domain.Session, error) {
	hash, now := tokenHash(token), d.now()
	// Every API call authenticates: a session seen in the last moments is
	// answered from memory (see sessionCacheTTL).
	s, gen, ok := d.cache.session(hash, now)
	if ok {
		return s, nil
	}
	s = &domain.Session{}
	var us userScan
	var expires int64
	// A disabled user's sessions are deleted when they are disabled; the
	// condition keeps a session made in a race with that out as well.
	err := d.queryRow(ctx, `SELECT s.csrf_token, s.expires_at, u.id, u.username, u.role, u.display_name, u.org, u.created_at, u.unit_id, u.disabled_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL`,
		hash, ms(now)).Scan(append([]any{&s.CSRFToken, &expires}, us.dest()...)...)
	if err != nil {
		return nil, notFound(err, "session")
	}
	s.ExpiresAt = time.UnixMilli(expires).UTC()
	s.User = us.done()
	d.cache.putSession(hash, s, gen)
	return s, nil
}

// DeleteSession revokes a token.
func (d *DB) DeleteSession(ctx context.Context, token string) error {
	hash := tokenHash(token)
	_, err := d.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hash)
	d.cache.dropSession(hash)
	return err
}

// DeleteExpiredSessions removes sessions past their expiry and says how many.
func (d *DB) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := d.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ms(d.now()))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SetPassword replaces a user's password and ends their sessions.
func (d *DB) SetPassword(ctx context.Context, username, password string) error {
	if utf8.RuneCountInString(password) < domain.MinPasswordLength || len(password) > 72 {
		return domain.Coded(domain.ErrInvalid, "password_length", fmt.Sprintf("password must have %d to 72 characters", domain.MinPasswordLength))
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), d.passwordCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	defer d.cache.dropSession("")
	return d.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE username = ?`, string(hash), username)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Errorf(domain.ErrNotFound, "no user "+username)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)`, username)
		return err
	})
}
