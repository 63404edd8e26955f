package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	boardmodel "github.com/hearthdb/hearth/examples/board/model"
	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/appconfig"
	"github.com/hearthdb/hearth/syncserver/auth"
	"github.com/hearthdb/hearth/syncserver/pgstore"
	"github.com/hearthdb/hearth/syncserver/replica"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/ncruces/go-sqlite3"
)

// newSyncServer serves the app's schema: its migrations, synced tables,
// invariants and limits and, when clients are authenticated, its scopes,
// roles and table rules. The store is a SQLite file path ("" keeps the
// data in memory) or a postgres:// URL; any number of instances may share
// one PostgreSQL database.
func newSyncServer(ctx context.Context, cfg *serveConfig, log *slog.Logger) (*syncserver.Server, error) {
	var identify func(*http.Request) (syncserver.Identity, error)
	if cfg.auth != nil {
		identify = cfg.auth.verifier.Identify
	}
	// With authentication on, a user syncs the scopes its token and roles
	// grant and nothing else; without it nobody has scopes, so nothing is
	// scoped.
	sc := cfg.app.ServerConfig(identify != nil)
	sc.Identify = identify
	sc.Logger = log
	sc.Path = cfg.store
	if strings.HasPrefix(cfg.store, "postgres://") || strings.HasPrefix(cfg.store, "postgresql://") {
		var opts []pgstore.Option
		if cfg.app.Store.Schema != "" {
			opts = append(opts, pgstore.WithSchema(cfg.app.Store.Schema))
		}
		st, err := pgstore.Open(ctx, cfg.store, opts...)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		sc.Store, sc.Path = st, ""
	}
	log.Info("sync", "app", cfg.app.Name, "config", cfg.app.File, "authenticated", identify != nil)
	return syncserver.New(sc)
}

// newSchemaHandler serves the app's schema as `hearth schema` prints it
// (GET /v1/schema), so a page can load its migrations from the server it
// syncs with instead of carrying a copy. It revalidates by ETag: the
// schema changes only with a new deployment.
func newSchemaHandler(app *appconfig.App) (http.Handler, error) {
	body, err := app.SchemaJSON()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}), nil
}

// newReplicaHandler serves GET /v1/replica (syncserver/replica): a new
// device's database built here, for the identity the request's
// credential proves. nil when the config's replica_builds is 0.
func newReplicaHandler(app *appconfig.App, sync *syncserver.Server, log *slog.Logger) (*replica.Handler, error) {
	if app.Limits.ReplicaBuilds < 0 {
		return nil, nil
	}
	return replica.NewHandler(replica.Config{
		Sync:       sync.Handler(),
		Head:       sync.Head,
		TakeRows:   sync.TakeSnapshotRows,
		Identify:   sync.Identify,
		Migrations: app.Migrations,
		Tables:     app.Tables,
		MaxBuilds:  app.Limits.ReplicaBuilds,
		MaxBytes:   app.Limits.ReplicaMaxBytes,
		Timeout:    app.Limits.ReplicaTimeout,
		CacheBytes: app.Limits.ReplicaCacheBytes,
		Logger:     log,
		// The pages that may open /sync may download.
		OriginPatterns: app.AllowedOrigins,
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

// syncAuth is how the sync endpoint authenticates clients.
type syncAuth struct {
	verifier *auth.Verifier
	// demo mints tokens for the seed's users at /demo/token (make demo).
	demo *auth.Issuer
}

// authFlags are serve's authentication flags; a nil audience or issuer
// was not given.
type authFlags struct {
	secretFile, publicKeyFile string
	audience, issuer          *string
	demo                      bool
}

// newSyncAuth builds the verifier: from the flags when they name a key (a
// shared HS256 secret file, a PEM public key, or for the demo a random
// secret only this process knows), else from the config's auth. Neither:
// no authentication. The config's claims, audience and issuer apply
// unless the flags say otherwise.
func newSyncAuth(app *appconfig.App, flags authFlags) (*syncAuth, error) {
	cfg := auth.Config{Audience: "hearth-sync", Leeway: 5 * time.Second}
	if a := app.Auth; a != nil {
		cfg.Audience, cfg.Issuer, cfg.ScopeClaim, cfg.RoleClaim = a.Audience, a.Issuer, a.ScopesClaim, a.RolesClaim
	}
	if flags.audience != nil {
		cfg.Audience = *flags.audience
	}
	if flags.issuer != nil {
		cfg.Issuer = *flags.issuer
	}
	if flags.demo && (flags.secretFile != "" || flags.publicKeyFile != "" || app.Auth != nil) {
		// The demo hands out tokens to anyone who asks: signed with a
		// real key, they would be real credentials.
		return nil, errors.New("-demo-auth mints tokens for anyone with a random secret of its own; it cannot be combined with a real key (-jwt-secret-file, -jwt-public-key or the config's auth)")
	}
	var pemKey []byte
	switch {
	case flags.publicKeyFile != "":
		key, err := os.ReadFile(flags.publicKeyFile)
		if err != nil {
			return nil, err
		}
		pemKey = key
	case flags.secretFile != "":
		secret, err := os.ReadFile(flags.secretFile)
		if err != nil {
			return nil, err
		}
		cfg.Secret = bytes.TrimSpace(secret)
	case flags.demo:
		cfg.Secret = make([]byte, 32)
		if _, err := rand.Read(cfg.Secret); err != nil {
			return nil, err
		}
	case app.Auth != nil && app.Auth.PublicKeyPEM != nil:
		pemKey = app.Auth.PublicKeyPEM
	case app.Auth != nil:
		cfg.Secret = app.Auth.Secret
	default:
		return nil, nil
	}
	if pemKey != nil {
		v, err := auth.NewVerifierFromPEM(pemKey, cfg)
		if err != nil {
			return nil, err
		}
		return &syncAuth{verifier: v}, nil
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	a := &syncAuth{verifier: v}
	if flags.demo {
		a.demo = &auth.Issuer{Secret: cfg.Secret, Audience: cfg.Audience, Issuer: cfg.Issuer, ScopeClaim: cfg.ScopeClaim, RoleClaim: cfg.RoleClaim}
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
