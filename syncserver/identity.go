package syncserver

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Identity is who a connection belongs to, as Config.Identify found it
// from the upgrade request.
type Identity struct {
	// Principal is passed to Authorize and the store (a JWT's sub).
	Principal string
	// Expires, when set, ends the session at that time with AUTH_EXPIRED:
	// a connection must not outlive the credential that opened it.
	Expires time.Time
	// Scopes are what the credential grants (e.g. the workspaces it may
	// sync), kept for authorization.
	Scopes []string
	// Roles are the credential's roles (a JWT's roles claim): what
	// Config.Grants and Config.TableRules may give more access to.
	Roles []string
}

// identify authenticates the upgrade request with Identify, or
// Authenticate, or accepts it when neither is set.
func (s *Server) identify(r *http.Request) (Identity, error) {
	switch {
	case s.cfg.Identify != nil:
		id, err := s.cfg.Identify(r)
		if err != nil {
			return Identity{}, err
		}
		if !id.Expires.IsZero() && !s.cfg.Now().Before(id.Expires) {
			return Identity{}, errors.New("the credential has expired")
		}
		return id, nil
	case s.cfg.Authenticate != nil:
		p, err := s.cfg.Authenticate(r)
		return Identity{Principal: p}, err
	}
	return Identity{}, nil
}

// Identify checks a request's credential as the sync endpoint does, for
// endpoints beside it that act for the same identity (syncserver/replica).
func (s *Server) Identify(r *http.Request) (Identity, error) { return s.identify(r) }

type identityKey struct{}

// IdentityFrom returns the identity of the connection a hook runs for
// (Authorize, an Invariant): e.g. to refuse a change to a workspace the
// token's scopes do not list.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
