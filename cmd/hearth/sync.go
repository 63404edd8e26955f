package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	boardmodel "github.com/hearthdb/hearth/examples/board/model"
	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/auth"
	"github.com/hearthdb/hearth/syncserver/pgstore"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/ncruces/go-sqlite3"
)

// newSyncServer serves the demo board's schema: its migrations, synced
// tables and the double-booking invariant. store is a SQLite file path
// ("" keeps the data in memory) or a postgres:// URL; any number of
// instances may share one PostgreSQL database.
func newSyncServer(ctx context.Context, storeSpec string, identify func(*http.Request) (syncserver.Identity, error), log *slog.Logger) (*syncserver.Server, error) {
	cfg := syncserver.Config{Path: storeSpec}
	if strings.HasPrefix(storeSpec, "postgres://") || strings.HasPrefix(storeSpec, "postgresql://") {
		st, err := pgstore.Open(ctx, storeSpec)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		cfg = syncserver.Config{Store: st}
	}
	// With authentication on, a user syncs the workspaces its token
	// grants (the ws claim) and nothing else; without it nobody has
	// scopes, so nothing is scoped.
	var scopes map[string]string
	if identify != nil {
		scopes = boardschema.Scopes
	}
	return syncserver.New(syncserver.Config{
		Store:      cfg.Store,
		Scopes:     scopes,
		Path:       cfg.Path,
		Migrations: boardschema.Migrations,
		Tables:     boardschema.Tables,
		Invariants: []syncserver.Invariant{boardschema.DoubleBooking},
		Identify:   identify,
		Logger:     log,
	})
}

// seedDemo pushes the demo workspace, laid out around today (a date, see
// seedDay), through the sync endpoint at url.
func seedDemo(ctx context.Context, url string, tasks int, today time.Time) (int64, error) {
	return seed.Write(ctx, url, boardschema.Migrations, boardschema.Tables, func(conn *sqlite3.Conn) error {
		return boardschema.Seed(conn, boardschema.SeedOptions{Tasks: tasks, Today: today})
	})
}

// seedDay is the demo seed's today: the -seed-today flag (YYYY-MM-DD) when
// set, else today on this machine's clock in its time zone (TZ). Go reads
// the clock without libc, so libfaketime cannot move it: tests whose
// browser runs on another date say so with the flag.
func seedDay(flag string, now time.Time) (time.Time, error) {
	if flag == "" {
		return boardmodel.Today(now), nil
	}
	day, err := time.Parse(boardmodel.DateLayout, flag)
	if err != nil {
		return time.Time{}, fmt.Errorf("-seed-today: want YYYY-MM-DD: %w", err)
	}
	return day, nil
}

// printSchema writes {migrations: [{version, sql}], tables: [{name, resurrect}]}.
func printSchema(w io.Writer) error {
	type migration struct {
		Version int64  `json:"version"`
		SQL     string `json:"sql"`
	}
	type table struct {
		Name      string `json:"name"`
		Resurrect bool   `json:"resurrect"`
	}
	var out struct {
		Migrations []migration `json:"migrations"`
		Tables     []table     `json:"tables"`
	}
	for _, m := range boardschema.Migrations {
		out.Migrations = append(out.Migrations, migration{m.Version, m.SQL})
	}
	for _, t := range boardschema.Tables {
		out.Tables = append(out.Tables, table{t.Name, t.Resurrect})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// syncAuth is how the sync endpoint authenticates clients.
type syncAuth struct {
	verifier *auth.Verifier
	// demo mints tokens for the seed's users at /demo/token (make demo).
	demo *auth.Issuer
}

// newSyncAuth builds the verifier from the flags: a shared HS256 secret
// (file), a PEM public key (EdDSA or RS256), or, for the demo, a random
// secret that only this process knows. None of them: no authentication.
func newSyncAuth(secretFile, publicKeyFile, audience, issuer string, demo bool) (*syncAuth, error) {
	cfg := auth.Config{Audience: audience, Issuer: issuer, Leeway: 5 * time.Second}
	switch {
	case publicKeyFile != "":
		pem, err := os.ReadFile(publicKeyFile)
		if err != nil {
			return nil, err
		}
		v, err := auth.NewVerifierFromPEM(pem, cfg)
		if err != nil {
			return nil, err
		}
		return &syncAuth{verifier: v}, nil
	case secretFile != "":
		secret, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, err
		}
		cfg.Secret = bytes.TrimSpace(secret)
	case demo:
		cfg.Secret = make([]byte, 32)
		if _, err := rand.Read(cfg.Secret); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	a := &syncAuth{verifier: v}
	if demo {
		a.demo = &auth.Issuer{Secret: cfg.Secret, Audience: audience, Issuer: issuer}
	}
	return a, nil
}

// demoTokenTTL is short so the demo shows token refresh; the board asks
// for a new one when sync pauses on AUTH_EXPIRED.
const demoTokenTTL = time.Hour

// serveDemoToken mints a token for one of the seed's users:
// GET /demo/token?user=u-01 → {"token", "user", "workspaces", "expiresAt",
// "expiresIn"}. expiresAt is Unix ms on this server's clock; expiresIn
// (seconds) is what a client times its renewal by, on its own clock: a
// device whose clock is far from the server's (a phone set a year off)
// would otherwise renew at once, over and over, or never.
// Demo only: anyone who can reach the server can be anyone.
func (a *syncAuth) serveDemoToken(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	workspaces := boardschema.WorkspacesOf(user)
	if len(workspaces) == 0 {
		http.Error(w, `{"code":"UNKNOWN_USER","message":"no such demo user"}`, http.StatusNotFound)
		return
	}
	token, err := a.demo.Issue(user, workspaces, demoTokenTTL)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"token": token, "user": user, "workspaces": workspaces,
		"expiresAt": time.Now().Add(demoTokenTTL).UnixMilli(), "expiresIn": int64(demoTokenTTL / time.Second)})
}
