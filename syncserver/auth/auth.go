// Package auth authenticates sync connections with JSON Web Tokens.
//
// A Verifier checks a token's signature (HS256 with a shared secret,
// EdDSA with an Ed25519 public key, or RS256 with an RSA public key), its
// expiry and not-before times, and its audience and issuer when they are
// configured. The token's subject is the principal; an optional claim
// (default "ws") lists the scopes the token grants, e.g. the workspaces
// it may sync. Plug it into the server with
//
//	syncserver.Config{Identify: verifier.Identify}
//
// (or Authenticate: verifier.Authenticate when expiry need not end live
// sessions).
//
// An Issuer mints HS256 tokens, for demos and tests; production tokens
// come from the app's identity provider.
package auth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hearthdb/hearth/syncserver"
)

// DefaultScopeClaim is the claim holding the token's scopes.
const DefaultScopeClaim = "ws"

// DefaultRoleClaim is the claim holding the token's roles.
const DefaultRoleClaim = "roles"

// Config configures a Verifier. Exactly one of Secret, EdDSAKey and
// RSAKey is set; it also fixes the only algorithm accepted, so a token
// cannot pick a weaker one (the "alg: none" and HMAC-with-a-public-key
// attacks).
type Config struct {
	// Secret verifies HS256 tokens (at least 32 bytes).
	Secret []byte
	// EdDSAKey verifies EdDSA (Ed25519) tokens.
	EdDSAKey ed25519.PublicKey
	// RSAKey verifies RS256 tokens.
	RSAKey *rsa.PublicKey

	// Audience, when set, must be among the token's aud.
	Audience string
	// Issuer, when set, must be the token's iss.
	Issuer string
	// ScopeClaim names the claim listing scopes (default "ws").
	ScopeClaim string
	// RoleClaim names the claim listing roles (default "roles"), which
	// syncserver.Config.Grants and table rules may give more access to.
	RoleClaim string
	// Leeway tolerates clock differences with the issuer on exp and nbf
	// (default 0; a few seconds is common).
	Leeway time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// Claims is what a verified token says.
type Claims struct {
	// Subject is the principal (sub).
	Subject string
	// Expires is exp (every accepted token has one).
	Expires time.Time
	// Scopes is the scope claim's list.
	Scopes []string
	// Roles is the role claim's list.
	Roles []string
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	key    any
	parser *jwt.Parser
}

// ErrNoToken is returned for a request that carries no token.
var ErrNoToken = errors.New("auth: no token (Authorization: Bearer, or the token query parameter)")

// NewVerifier checks the configuration and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{cfg: cfg}
	var alg string
	set := 0
	if cfg.Secret != nil {
		if len(cfg.Secret) < 32 {
			return nil, errors.New("auth: an HS256 secret needs at least 32 bytes")
		}
		v.key, alg = cfg.Secret, jwt.SigningMethodHS256.Alg()
		set++
	}
	if cfg.EdDSAKey != nil {
		if len(cfg.EdDSAKey) != ed25519.PublicKeySize {
			return nil, errors.New("auth: the EdDSA key is not an Ed25519 public key")
		}
		v.key, alg = cfg.EdDSAKey, jwt.SigningMethodEdDSA.Alg()
		set++
	}
	if cfg.RSAKey != nil {
		// Below 2048 bits RSA signatures can be forged with public means.
		if cfg.RSAKey.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("auth: the RSA key has %d bits; at least %d are required", cfg.RSAKey.N.BitLen(), minRSABits)
		}
		v.key, alg = cfg.RSAKey, jwt.SigningMethodRS256.Alg()
		set++
	}
	if set != 1 {
		return nil, fmt.Errorf("auth: set exactly one of Secret, EdDSAKey and RSAKey (%d set)", set)
	}
	if v.cfg.ScopeClaim == "" {
		v.cfg.ScopeClaim = DefaultScopeClaim
	}
	if v.cfg.RoleClaim == "" {
		v.cfg.RoleClaim = DefaultRoleClaim
	}
	if v.cfg.Now == nil {
		v.cfg.Now = time.Now
	}
	// A token without exp would be good forever: one leaked token would
	// be a permanent key. Every token must say when it ends.
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(v.cfg.Now), jwt.WithLeeway(cfg.Leeway), jwt.WithExpirationRequired()}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// NewVerifierFromPEM returns a Verifier for a public key in PEM: an
// Ed25519 key verifies EdDSA tokens, an RSA key (PKIX, PKCS#1 or a
// certificate) RS256 ones. cfg's key fields are ignored.
func NewVerifierFromPEM(pemKey []byte, cfg Config) (*Verifier, error) {
	cfg.Secret, cfg.EdDSAKey, cfg.RSAKey = nil, nil, nil
	if k, err := jwt.ParseEdPublicKeyFromPEM(pemKey); err == nil {
		if ek, ok := k.(ed25519.PublicKey); ok {
			cfg.EdDSAKey = ek
			return NewVerifier(cfg)
		}
	}
	k, err := jwt.ParseRSAPublicKeyFromPEM(pemKey)
	if err != nil {
		return nil, fmt.Errorf("auth: the PEM holds neither an Ed25519 nor an RSA public key: %w", err)
	}
	cfg.RSAKey = k
	return NewVerifier(cfg)
}

// Verify checks a token and returns its claims.
func (v *Verifier) Verify(token string) (Claims, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return Claims{}, fmt.Errorf("auth: %w", err)
	}
	sub, err := claims.GetSubject()
	if err != nil || sub == "" {
		return Claims{}, errors.New("auth: the token has no subject (sub)")
	}
	out := Claims{Subject: sub}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		out.Expires = exp.Time
	}
	if out.Scopes, err = stringList(claims, v.cfg.ScopeClaim); err != nil {
		return Claims{}, err
	}
	if out.Roles, err = stringList(claims, v.cfg.RoleClaim); err != nil {
		return Claims{}, err
	}
	return out, nil
}

// stringList reads a claim that is a string or a list of strings.
func stringList(claims jwt.MapClaims, name string) ([]string, error) {
	switch raw := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{raw}, nil
	case []any:
		out := make([]string, 0, len(raw))
		for _, s := range raw {
			str, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("auth: the %q claim must list strings", name)
			}
			out = append(out, str)
		}
		return out, nil
	}
	return nil, fmt.Errorf("auth: the %q claim must be a string or a list of strings", name)
}

// TokenFromRequest returns the request's token: the Authorization header's
// Bearer token, else the token query parameter.
//
// Browsers cannot set headers on a WebSocket, so the browser worker sends
// the token in the URL. The trade-off: URLs end up in access logs and
// proxies' logs, where headers usually do not. Keep such tokens
// short-lived (minutes; the client fetches a fresh one on every dial and
// the server ends a session at exp), scope them to sync, and keep the
// query string out of logs. A cookie would avoid the URL, but would bring
// CSRF-style cross-site WebSocket hijacking to guard against instead.
func TokenFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return r.URL.Query().Get("token")
}

// Identify authenticates a sync connection's upgrade request, for
// syncserver.Config.Identify: the session ends when the token expires.
func (v *Verifier) Identify(r *http.Request) (syncserver.Identity, error) {
	tok := TokenFromRequest(r)
	if tok == "" {
		return syncserver.Identity{}, ErrNoToken
	}
	c, err := v.Verify(tok)
	if err != nil {
		return syncserver.Identity{}, err
	}
	return syncserver.Identity{Principal: c.Subject, Expires: c.Expires, Scopes: c.Scopes, Roles: c.Roles}, nil
}

// Authenticate is Identify for syncserver.Config.Authenticate, which
// knows only the principal.
func (v *Verifier) Authenticate(r *http.Request) (string, error) {
	id, err := v.Identify(r)
	return id.Principal, err
}

// Issuer mints HS256 tokens with a shared secret, for demos and tests.
type Issuer struct {
	// Secret signs tokens (at least 32 bytes, the Verifier's).
	Secret []byte
	// Audience and Issuer, when set, go into aud and iss.
	Audience, Issuer string
	// ScopeClaim names the scope claim (default "ws").
	ScopeClaim string
	// RoleClaim names the role claim (default "roles").
	RoleClaim string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Issue returns a token for sub granting scopes, valid from now for ttl.
func (is *Issuer) Issue(sub string, scopes []string, ttl time.Duration) (string, error) {
	return is.IssueWithRoles(sub, scopes, nil, ttl)
}

// IssueWithRoles is Issue with roles in the role claim (none: no claim).
func (is *Issuer) IssueWithRoles(sub string, scopes, roles []string, ttl time.Duration) (string, error) {
	if len(is.Secret) < 32 {
		return "", errors.New("auth: an HS256 secret needs at least 32 bytes")
	}
	now := time.Now
	if is.Now != nil {
		now = is.Now
	}
	t := now()
	claims := jwt.MapClaims{
		"sub": sub,
		"iat": jwt.NewNumericDate(t),
		"nbf": jwt.NewNumericDate(t),
		"exp": jwt.NewNumericDate(t.Add(ttl)),
	}
	if is.Audience != "" {
		claims["aud"] = is.Audience
	}
	if is.Issuer != "" {
		claims["iss"] = is.Issuer
	}
	if scopes != nil {
		name := is.ScopeClaim
		if name == "" {
			name = DefaultScopeClaim
		}
		claims[name] = scopes
	}
	if roles != nil {
		name := is.RoleClaim
		if name == "" {
			name = DefaultRoleClaim
		}
		claims[name] = roles
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(is.Secret)
}
