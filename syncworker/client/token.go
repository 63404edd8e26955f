package client

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hearthdb/hearth/syncworker/syncstatus"
)

// authPause is how long sync stays paused on a refused or expired token
// when the app does not call TokenChanged: a daily re-check (with a fresh
// Token call) so a replica whose app forgot to signal still recovers.
const authPause = 24 * time.Hour

// TokenChanged tells the client the app has a new token (after a
// sign-in or refresh): a client paused on an expired or refused token
// reconnects at once, calling Config.Token again. Pending changes were
// kept in the journal meanwhile and are pushed then. It never blocks.
func (c *Client) TokenChanged() { signal(c.tokenCh) }

// dial opens a connection to the server: the preconnection the client
// was given, the first time, if it is still good, or a new one.
func (c *Client) dial(ctx context.Context) (Transport, error) {
	if p := c.cfg.Preconnected; p != nil {
		if t := p.take(ctx, c.cfg.Now()); t != nil {
			return t, nil
		}
	}
	return dialServer(ctx, &c.cfg)
}

// dialServer opens a connection to cfg's server, with a fresh token in
// the URL when Config.Token is set.
func dialServer(ctx context.Context, cfg *Config) (Transport, error) {
	target := cfg.URL
	if cfg.Token != nil {
		tok, err := cfg.Token(ctx)
		if err != nil {
			// Getting a token may fail for the same reasons a connection
			// does (offline): a plain error backs off and retries; the
			// app returns a *Error of syncstatus.ClassAuth to pause instead.
			return nil, fmt.Errorf("get a token: %w", err)
		}
		if tok == "" {
			// No token yet: connect without one (a server that needs
			// one answers 401 and sync pauses until the app sets it).
			return cfg.Dial(ctx, target)
		}
		u, err := url.Parse(target)
		if err != nil {
			return nil, &Error{Class: syncstatus.ClassLocal, Err: fmt.Errorf("sync URL %q: %w", target, err)}
		}
		q := u.Query()
		q.Set("token", tok)
		u.RawQuery = q.Encode()
		target = u.String()
		t, err := cfg.Dial(ctx, target)
		if err != nil {
			// Dial errors quote the URL; the status shows them to the page
			// and apps log them.
			return nil, &redacted{err: err, secrets: []string{tok, url.QueryEscape(tok)}}
		}
		return t, nil
	}
	return cfg.Dial(ctx, target)
}

// redacted is an error whose text hides secrets; errors.As and Is still
// see the error it wraps (an HTTPError's status, say).
type redacted struct {
	err     error
	secrets []string
}

func (e *redacted) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	return msg
}

func (e *redacted) Unwrap() error { return e.err }
