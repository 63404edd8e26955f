package appconfig

import (
	"encoding/json"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/auth"
)

// ServerConfig maps the app onto a syncserver.Config: schema, tables,
// invariants, limits, allowed origins and, for the SQLite store, its
// path (a PostgreSQL store is the caller's to open, from Store.URL).
// authenticated says whether the server identifies its clients: only
// then do scopes, grants and table rules apply (without identities
// nobody has scopes, so nothing would be readable).
func (a *App) ServerConfig(authenticated bool) syncserver.Config {
	cfg := syncserver.Config{
		Path:              a.Store.Path,
		Migrations:        a.Migrations,
		Tables:            a.Tables,
		SQLInvariants:     a.Invariants,
		OriginPatterns:    a.AllowedOrigins,
		MaxMessageBytes:   a.Limits.MaxMessageBytes,
		MaxPushBatch:      a.Limits.MaxPushBatch,
		PushRate:          a.Limits.PushRate,
		PushBurst:         a.Limits.PushBurst,
		SnapshotRate:      a.Limits.SnapshotRate,
		SnapshotBurst:     a.Limits.SnapshotBurst,
		ChecksumInterval:  a.Limits.ChecksumInterval,
		ChecksumBurst:     a.Limits.ChecksumBurst,
		MaxClockSkew:      a.Limits.MaxClockSkew,
		CompactInterval:   a.Limits.CompactInterval,
		CompactKeep:       a.Limits.CompactKeep,
		MaxRowBytes:       a.Limits.MaxRowBytes,
		MaxPrincipalBytes: a.Limits.MaxPrincipalBytes,

		TextCompactTombstones: a.Limits.TextCompactTombstones,
		QuietCursorDelay:      a.Limits.QuietCursorDelay,
	}
	if authenticated {
		cfg.Scopes = a.Scopes
		cfg.Grants = a.Grants
		cfg.TableRules = a.TableRules
	}
	return cfg
}

// Grants is syncserver.Config.Grants for the app: the token's own scopes
// plus what its roles grant. A token's own "*" is a scope id like any
// other (ids may be data users create): only a role grants every scope.
func (a *App) Grants(id syncserver.Identity) (read, write []string) {
	for _, sc := range id.Scopes {
		if sc != syncserver.AllScopes {
			read = append(read, sc)
			write = append(write, sc)
		}
	}
	for _, r := range id.Roles {
		role, ok := a.Roles[r]
		if !ok {
			continue
		}
		read = append(read, role.Read...)
		write = append(write, role.Write...)
	}
	return read, write
}

// Verifier is the JWT verifier auth: describes (nil without auth).
func (a *App) Verifier() (*auth.Verifier, error) {
	if a.Auth == nil {
		return nil, nil
	}
	cfg := auth.Config{Audience: a.Auth.Audience, Issuer: a.Auth.Issuer, ScopeClaim: a.Auth.ScopesClaim,
		RoleClaim: a.Auth.RolesClaim, Leeway: 5 * time.Second}
	if a.Auth.PublicKeyPEM != nil {
		return auth.NewVerifierFromPEM(a.Auth.PublicKeyPEM, cfg)
	}
	cfg.Secret = a.Auth.Secret
	return auth.NewVerifier(cfg)
}

// Issuer mints tokens the app's verifier accepts (HS256 configs only; nil
// otherwise).
func (a *App) Issuer() *auth.Issuer {
	if a.Auth == nil || a.Auth.Secret == nil {
		return nil
	}
	return &auth.Issuer{Secret: a.Auth.Secret, Audience: a.Auth.Audience, Issuer: a.Auth.Issuer,
		ScopeClaim: a.Auth.ScopesClaim, RoleClaim: a.Auth.RolesClaim}
}

// SchemaJSON is what a client needs to open the database the server
// syncs: {"app", "migrations": [{version, sql}], "tables": [{name,
// resurrect, text}]} (hearth schema, GET /v1/schema).
func (a *App) SchemaJSON() ([]byte, error) {
	type migration struct {
		Version int64  `json:"version"`
		SQL     string `json:"sql"`
	}
	type table struct {
		Name      string   `json:"name"`
		Resurrect bool     `json:"resurrect"`
		Text      []string `json:"text,omitempty"`
	}
	out := struct {
		App        string      `json:"app"`
		Migrations []migration `json:"migrations"`
		Tables     []table     `json:"tables"`
	}{App: a.Name}
	for _, m := range a.Migrations {
		out.Migrations = append(out.Migrations, migration{m.Version, m.SQL})
	}
	for _, t := range a.Tables {
		out.Tables = append(out.Tables, table{t.Name, t.Resurrect, t.Text})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
