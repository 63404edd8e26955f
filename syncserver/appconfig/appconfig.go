// Package appconfig reads an app's hearth.yaml: its migrations, synced
// tables, scopes, access rules, roles, invariants, store, authentication
// and limits, so that `hearth serve -config` runs any app without Go code.
// CONFIG.md beside this file describes every key.
//
// Loading is strict and complete: an unknown key, a wrong type, a table
// the migrations do not create, a scope or owner column the table lacks,
// an invariant whose SQL does not prepare, are each reported as
// file:line:col: key.path: what is wrong, all of them at once (Errors).
package appconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/auth"
	"github.com/hearthdb/hearth/syncserver/pgstore"
	"github.com/hearthdb/hearth/syncworker/appschema"
)

// MaxFileBytes bounds a config file and the files it names.
const MaxFileBytes = 1 << 20

// App is a loaded, valid config.
type App struct {
	// Name names the app (logs, /v1/schema).
	Name string
	// File is the config file as given to Load or LoadFS.
	File       string
	Migrations []appschema.Migration
	// Tables are the synced tables in the file's order (a client applies
	// snapshots in it).
	Tables []appschema.Table
	// Scopes maps each scoped table to its scope column.
	Scopes map[string]string
	// TableRules are the access rules of the tables without a scope.
	TableRules map[string]syncserver.TableRule
	// Roles map a role name to the scopes it grants.
	Roles      map[string]Role
	Invariants []syncserver.SQLInvariant
	Store      Store
	// Auth is nil when the file has no auth: section.
	Auth *Auth
	// ServiceTokens are the bearer tokens of auth.service_token_file, for
	// backend writes.
	ServiceTokens  []string
	AllowedOrigins []string
	// PublicHosts are the host names the server answers to besides
	// loopback names and IP literals (a guard against DNS rebinding).
	PublicHosts []string
	Limits      Limits
}

// Role is what a role grants beyond a token's own scopes (AllScopes for
// every scope).
type Role struct {
	Read, Write []string
}

// Store says where the server keeps its data: a SQLite file (Path,
// resolved against the config's directory), a PostgreSQL URL, or, with
// neither, memory.
type Store struct {
	Path, URL string
	// Schema is the PostgreSQL schema holding Hearth's tables ("": the
	// store's default, hearth).
	Schema string
}

// Auth is the JWT verification the sync endpoint requires.
type Auth struct {
	// Secret is the HS256 secret (secret_file), or nil.
	Secret []byte
	// PublicKeyPEM is the EdDSA or RS256 public key (public_key_file), or nil.
	PublicKeyPEM                              []byte
	Audience, Issuer, ScopesClaim, RolesClaim string
}

// Limits map onto the syncserver.Config fields of the same meaning; zero
// keeps the server's default.
type Limits struct {
	MaxMessageBytes   int64
	MaxPushBatch      int
	PushRate          float64
	PushBurst         int
	SnapshotRate      float64
	SnapshotBurst     int
	ChecksumInterval  time.Duration
	ChecksumBurst     int
	MaxClockSkew      time.Duration
	CompactInterval   time.Duration
	CompactKeep       int64
	MaxRowBytes       int
	MaxPrincipalBytes int64
	// TextCompactTombstones: see syncserver.Config.
	TextCompactTombstones int
	// ReplicaBuilds bounds the replica files built at once (0: the
	// default, syncserver/replica.DefaultMaxBuilds; -1: the file's
	// replica_builds: 0, no replica endpoint); ReplicaMaxBytes and
	// ReplicaTimeout bound one (0: the defaults).
	ReplicaBuilds   int
	ReplicaMaxBytes int64
	ReplicaTimeout  time.Duration
	// ReplicaCacheBytes bounds the replica files kept for the next device
	// of the same identity (0: the default; -1: the file's
	// replica_cache_bytes: 0, none kept).
	ReplicaCacheBytes int64
	// QuietCursorDelay: see syncserver.Config (0: the default; -1: the
	// file's quiet_cursor_delay: 0s, a message for every write).
	QuietCursorDelay time.Duration
}

// Load reads the config file at path; relative paths in it are relative
// to its directory. The error, for a config with mistakes, is Errors.
func Load(file string) (*App, error) {
	dir := filepath.Dir(file)
	resolve := func(name string) string {
		if filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(dir, filepath.FromSlash(name))
	}
	src := source{
		read: func(name string) ([]byte, error) { return readBounded(os.Open(resolve(name))) },
		migrations: func(name string) ([]appschema.Migration, error) {
			return appschema.ReadMigrations(os.DirFS(resolve(name)), ".")
		},
		resolve: resolve,
	}
	data, err := src.read(filepath.Base(file))
	if err != nil {
		return nil, err
	}
	return load(file, data, src)
}

// LoadFS reads the config file name in fsys, and the files it names
// relative to it from fsys too (an embedded app such as the demo board).
// A store path stays as written.
func LoadFS(fsys fs.FS, name string) (*App, error) {
	dir := path.Dir(name)
	src := source{
		read: func(rel string) ([]byte, error) {
			f, err := fsys.Open(path.Join(dir, rel))
			return readBounded(f, err)
		},
		migrations: func(rel string) ([]appschema.Migration, error) {
			return appschema.ReadMigrations(fsys, path.Join(dir, rel))
		},
		resolve: func(rel string) string { return rel },
	}
	f, err := fsys.Open(name)
	data, err := readBounded(f, err)
	if err != nil {
		return nil, err
	}
	return load(name, data, src)
}

// readBounded reads an opened file of at most MaxFileBytes.
func readBounded(f fs.File, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		name := "the file"
		if st, err := f.Stat(); err == nil {
			name = st.Name()
		}
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxFileBytes)
	}
	return data, nil
}

// source is where a config's own files come from.
type source struct {
	read       func(name string) ([]byte, error)
	migrations func(dir string) ([]appschema.Migration, error)
	resolve    func(name string) string
}

type loader struct {
	file string
	src  source
	errs Errors
	app  *App

	// Nodes to report validation errors at.
	migrationsAt ast.Node
	tableAt      map[string]entry
	scopeAt      map[string]entry
	ownerAt      map[string]entry
	invariantAt  []entry // each invariant's sql entry
	invTableAt   []entry
	authOn       bool
}

// load parses and checks a config file's text.
func load(file string, data []byte, src source) (*App, error) {
	l := &loader{file: file, src: src, app: &App{File: file}, tableAt: map[string]entry{}, scopeAt: map[string]entry{}, ownerAt: map[string]entry{}}
	tree, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.parseError(err)
		return nil, l.errs
	}
	var body ast.Node
	for _, doc := range tree.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			l.errAt(doc.Body, "", "one YAML document only")
			return nil, l.errs
		}
		body = doc.Body
	}
	l.top(body)
	if l.app.Migrations != nil {
		l.validate()
	}
	if len(l.errs) > 0 {
		slices.SortStableFunc(l.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Col - b.Col
		})
		return nil, l.errs
	}
	return l.app, nil
}

// parseError turns the parser's error into an Error at its position.
func (l *loader) parseError(err error) {
	var pe interface {
		GetMessage() string
		GetToken() *token.Token
	}
	if errors.As(err, &pe) {
		l.errAtToken(pe.GetToken(), "YAML: %s", pe.GetMessage())
		return
	}
	l.errs = append(l.errs, &Error{File: l.file, Msg: "YAML: " + err.Error()})
}

// top reads the document's keys.
func (l *loader) top(body ast.Node) {
	entries, _ := l.mapping(body, "", "app", "migrations", "store", "auth", "allowed_origins", "public_hosts", "roles", "tables", "invariants", "limits")
	if body == nil {
		l.errs = append(l.errs, &Error{File: l.file, Msg: "empty config: want at least app, migrations and tables"})
		return
	}
	has := map[string]bool{}
	for _, e := range entries {
		has[e.key] = true
		switch e.key {
		case "app":
			l.app.Name, _ = l.nonEmpty(e)
		case "migrations":
			l.migrationsAt = e.keyAt
			if dir, ok := l.nonEmpty(e); ok {
				m, err := l.src.migrations(dir)
				if err != nil {
					l.errAt(e.value, e.path, "%v", err)
				}
				l.app.Migrations = m
			}
		case "store":
			l.store(e)
		case "auth":
			l.auth(e)
		case "allowed_origins":
			if list, ok := l.strList(e); ok {
				for i, p := range list {
					if _, err := path.Match(p, ""); err != nil || p == "" {
						l.errAt(e.value, fmt.Sprintf("%s[%d]", e.path, i), "%q is not a host pattern (e.g. localhost:5173 or *.example.com)", p)
					}
				}
				l.app.AllowedOrigins = list
			}
		case "public_hosts":
			if list, ok := l.strList(e); ok {
				for i, h := range list {
					if h == "" || strings.ContainsAny(h, "/:* ") {
						l.errAt(e.value, fmt.Sprintf("%s[%d]", e.path, i), "%q is not a host name (e.g. sync.example.com, no scheme, port or pattern)", h)
					}
				}
				l.app.PublicHosts = list
			}
		case "roles":
			l.roles(e)
		case "tables":
			l.tables(e)
		case "invariants":
			l.invariants(e)
		case "limits":
			l.limits(e)
		}
	}
	for _, key := range []string{"app", "migrations", "tables"} {
		if !has[key] && body != nil {
			l.errAt(body, key, "missing (required)")
		}
	}
}

func (l *loader) store(e entry) {
	entries, _ := l.mapping(e.value, e.path, "path", "url", "schema")
	var at, schemaAt ast.Node
	for _, f := range entries {
		switch f.key {
		case "path":
			if p, ok := l.nonEmpty(f); ok {
				l.app.Store.Path = l.src.resolve(p)
			}
		case "url":
			if u, ok := l.nonEmpty(f); ok {
				if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
					l.errAt(f.value, f.path, "want a postgres:// URL")
				}
				l.app.Store.URL = u
				at = f.keyAt
			}
		case "schema":
			if name, ok := l.nonEmpty(f); ok {
				if err := pgstore.ValidateSchemaName(name); err != nil {
					l.errAt(f.value, f.path, "%v", err)
				}
				l.app.Store.Schema = name
				schemaAt = f.keyAt
			}
		}
	}
	if l.app.Store.Schema != "" && l.app.Store.URL == "" {
		l.errAt(schemaAt, e.path+".schema", "schema is for a PostgreSQL store (url)")
	}
	if l.app.Store.Path != "" && l.app.Store.URL != "" {
		l.errAt(at, e.path, "path and url are exclusive: a SQLite file or PostgreSQL")
	}
}

func (l *loader) auth(e entry) {
	l.authOn = true
	a := &Auth{Audience: "hearth-sync", ScopesClaim: auth.DefaultScopeClaim, RolesClaim: auth.DefaultRoleClaim}
	l.app.Auth = a
	entries, _ := l.mapping(e.value, e.path, "jwt", "service_token_file")
	hasJWT := false
	for _, f := range entries {
		switch f.key {
		case "jwt":
			hasJWT = true
			l.jwt(f, a)
		case "service_token_file":
			name, ok := l.nonEmpty(f)
			if !ok {
				continue
			}
			data, err := l.src.read(name)
			if err != nil {
				l.errAt(f.value, f.path, "%v", err)
				continue
			}
			bad := false
			for i, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if err := syncserver.ValidServiceToken(line); err != nil {
					l.errAt(f.value, f.path, "%s line %d: %v", name, i+1, err)
					bad = true
					continue
				}
				l.app.ServiceTokens = append(l.app.ServiceTokens, line)
			}
			if len(l.app.ServiceTokens) == 0 && !bad {
				l.errAt(f.value, f.path, "%s holds no token", name)
			}
		}
	}
	if !hasJWT {
		l.errAt(e.keyAt, e.path+".jwt", "missing: auth needs jwt (secret_file or public_key_file)")
	}
}

func (l *loader) jwt(e entry, a *Auth) {
	entries, _ := l.mapping(e.value, e.path, "secret_file", "public_key_file", "audience", "issuer", "scopes_claim", "roles_claim")
	var keyAt entry
	keys := 0
	for _, f := range entries {
		switch f.key {
		case "secret_file", "public_key_file":
			keys++
			keyAt = f
			name, ok := l.nonEmpty(f)
			if !ok {
				continue
			}
			data, err := l.src.read(name)
			if err != nil {
				l.errAt(f.value, f.path, "%v", err)
				continue
			}
			if f.key == "secret_file" {
				a.Secret = bytes.TrimSpace(data)
				if len(a.Secret) < 32 {
					l.errAt(f.value, f.path, "%s: an HS256 secret needs at least 32 bytes", name)
				}
			} else {
				a.PublicKeyPEM = data
				if _, err := auth.NewVerifierFromPEM(data, auth.Config{}); err != nil {
					l.errAt(f.value, f.path, "%s: %v", name, err)
				}
			}
		case "audience":
			a.Audience, _ = l.str(f)
		case "issuer":
			a.Issuer, _ = l.str(f)
		case "scopes_claim":
			a.ScopesClaim, _ = l.nonEmpty(f)
		case "roles_claim":
			a.RolesClaim, _ = l.nonEmpty(f)
		}
	}
	switch {
	case keys == 0:
		l.errAt(e.keyAt, e.path, "set secret_file (HS256) or public_key_file (EdDSA, RS256)")
	case keys > 1:
		l.errAt(keyAt.keyAt, keyAt.path, "secret_file and public_key_file are exclusive")
	}
}

func (l *loader) roles(e entry) {
	entries, _ := l.mapping(e.value, e.path)
	l.app.Roles = map[string]Role{}
	for _, r := range entries {
		var role Role
		fields, _ := l.mapping(r.value, r.path, "read", "write")
		for _, f := range fields {
			list, _ := l.strList(f)
			if f.key == "read" {
				role.Read = list
			} else {
				role.Write = list
			}
		}
		l.app.Roles[r.key] = role
	}
}

func (l *loader) tables(e entry) {
	entries, _ := l.mapping(e.value, e.path)
	if len(entries) == 0 {
		l.errAt(e.keyAt, e.path, "list at least one synced table")
	}
	l.app.Scopes = map[string]string{}
	l.app.TableRules = map[string]syncserver.TableRule{}
	for _, t := range entries {
		l.tableAt[t.key] = t
		table := appschema.Table{Name: t.key}
		fields, _ := l.mapping(t.value, t.path, "scope", "resurrect", "text", "read", "write")
		var rule syncserver.TableRule
		ruled := false
		var scopeAt entry
		for _, f := range fields {
			switch f.key {
			case "scope":
				if col, ok := l.nonEmpty(f); ok {
					l.app.Scopes[t.key] = col
					l.scopeAt[t.key] = f
					scopeAt = f
				}
			case "resurrect":
				table.Resurrect, _ = l.boolean(f)
			case "text":
				table.Text, _ = l.strList(f)
			case "read":
				ruled = true
				rule.Read = l.allow(f, false)
			case "write":
				ruled = true
				rule.Write = l.allow(f, true)
				if rule.Write.Owner != "" {
					l.ownerAt[t.key] = f
				}
			}
		}
		if ruled && scopeAt.keyAt != nil {
			l.errAt(scopeAt.keyAt, t.path, "a scoped table's access follows its scope: drop read and write, or scope")
		}
		if ruled {
			l.app.TableRules[t.key] = rule
		}
		l.app.Tables = append(l.app.Tables, table)
	}
}

// allow reads authenticated | none | { owner: col, roles: [...] }.
func (l *loader) allow(e entry, write bool) syncserver.Allow {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return syncserver.Allow{}
	}
	if s, isStr := n.(*ast.StringNode); isStr {
		switch s.Value {
		case "authenticated":
			return syncserver.Allow{Authenticated: true}
		case "none":
			return syncserver.Allow{}
		}
		l.errAt(n, e.path, "want authenticated, none or a mapping, got %q", s.Value)
		return syncserver.Allow{}
	}
	known := []string{"roles"}
	if write {
		known = []string{"owner", "roles"}
	}
	fields, ok := l.mapping(n, e.path, known...)
	if !ok {
		return syncserver.Allow{}
	}
	var out syncserver.Allow
	for _, f := range fields {
		switch f.key {
		case "owner":
			out.Owner, _ = l.nonEmpty(f)
		case "roles":
			out.Roles, _ = l.strList(f)
		}
	}
	if len(fields) == 0 {
		l.errAt(n, e.path, "want authenticated, none, or owner and/or roles")
	}
	return out
}

func (l *loader) invariants(e entry) {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return
	}
	seq, isSeq := n.(*ast.SequenceNode)
	if !isSeq {
		if _, null := n.(*ast.NullNode); n == nil || null {
			return
		}
		l.errAt(n, e.path, "want a list of invariants, got %s", describe(n))
		return
	}
	names := map[string]bool{}
	for i, item := range seq.Values {
		p := fmt.Sprintf("%s[%d]", e.path, i)
		fields, _ := l.mapping(item, p, "name", "table", "sql")
		var inv syncserver.SQLInvariant
		var sqlAt, tableAt entry
		has := map[string]bool{}
		for _, f := range fields {
			has[f.key] = true
			switch f.key {
			case "name":
				if inv.Name, ok = l.nonEmpty(f); ok {
					if names[inv.Name] {
						l.errAt(f.value, f.path, "another invariant is named %q", inv.Name)
					}
					names[inv.Name] = true
				}
			case "table":
				inv.Table, _ = l.nonEmpty(f)
				tableAt = f
			case "sql":
				inv.SQL, _ = l.nonEmpty(f)
				sqlAt = f
			}
		}
		for _, key := range []string{"name", "table", "sql"} {
			if !has[key] {
				l.errAt(item, p+"."+key, "missing (required)")
			}
		}
		l.app.Invariants = append(l.app.Invariants, inv)
		l.invariantAt = append(l.invariantAt, sqlAt)
		l.invTableAt = append(l.invTableAt, tableAt)
	}
}

// count reads a non-negative integer that a server keeps as an int
// (capped at 2^31-1).
func (l *loader) count(f entry) int {
	v, _ := l.integer(f)
	return int(min(v, 1<<31-1))
}

func (l *loader) limits(e entry) {
	entries, _ := l.mapping(e.value, e.path, "max_message_bytes", "max_push_batch", "push_rate", "push_burst",
		"snapshot_rate", "snapshot_burst", "checksum_interval", "checksum_burst", "max_clock_skew", "compact_interval", "compact_keep",
		"max_row_bytes", "max_principal_bytes", "text_compact_tombstones", "replica_builds", "replica_max_bytes", "replica_timeout", "replica_cache_bytes", "quiet_cursor_delay")
	lim := &l.app.Limits
	for _, f := range entries {
		switch f.key {
		case "max_message_bytes":
			lim.MaxMessageBytes, _ = l.integer(f)
		case "max_push_batch":
			lim.MaxPushBatch = l.count(f)
		case "push_rate":
			lim.PushRate, _ = l.number(f)
		case "push_burst":
			lim.PushBurst = l.count(f)
		case "snapshot_rate":
			lim.SnapshotRate, _ = l.number(f)
		case "snapshot_burst":
			lim.SnapshotBurst = l.count(f)
		case "checksum_interval":
			lim.ChecksumInterval, _ = l.duration(f)
		case "checksum_burst":
			lim.ChecksumBurst = l.count(f)
		case "max_clock_skew":
			lim.MaxClockSkew, _ = l.duration(f)
		case "compact_interval":
			lim.CompactInterval, _ = l.duration(f)
		case "compact_keep":
			lim.CompactKeep, _ = l.integer(f)
		case "max_row_bytes":
			lim.MaxRowBytes = l.count(f)
		case "max_principal_bytes":
			lim.MaxPrincipalBytes, _ = l.integer(f)
		case "text_compact_tombstones":
			lim.TextCompactTombstones = l.count(f)
		case "replica_builds":
			if v, ok := l.integer(f); ok {
				lim.ReplicaBuilds = int(min(v, 1<<20))
				if v == 0 {
					lim.ReplicaBuilds = -1
				}
			}
		case "replica_max_bytes":
			lim.ReplicaMaxBytes, _ = l.integer(f)
		case "replica_timeout":
			lim.ReplicaTimeout, _ = l.duration(f)
		case "replica_cache_bytes":
			if v, ok := l.integer(f); ok {
				lim.ReplicaCacheBytes = v
				if v == 0 {
					lim.ReplicaCacheBytes = -1
				}
			}
		case "quiet_cursor_delay":
			if v, ok := l.duration(f); ok {
				lim.QuietCursorDelay = v
				if v == 0 {
					lim.QuietCursorDelay = -1
				}
			}
		}
	}
}
