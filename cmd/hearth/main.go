// Command hearth runs Hearth's server. `hearth serve` serves the web
// assets, the wasm bundle and the sync endpoint (/sync) for an app
// described by a hearth.yaml (-config), or, without one, for the demo task
// board (examples/board/app/hearth.yaml, embedded), on a loopback address.
// `hearth check`, `hearth schema` and `hearth token` validate a config,
// print its schema for clients, and mint a development token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	boardmodel "github.com/hearthdb/hearth/examples/board/model"
	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/appconfig"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = serve(ctx, args, os.Stdout)
		stop()
	case "check":
		err = check(args, os.Stdout)
	case "schema":
		// The app's schema as JSON, for JS pages and tests that open the
		// same database the server syncs.
		err = printSchema(args, os.Stdout)
	case "token":
		err = mintToken(args, os.Stdout)
	case "help", "-h", "--help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "hearth: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		var errs appconfig.Errors
		if errors.As(err, &errs) {
			// One mistake a line, file:line:col: path: message, as
			// editors and CI annotate them.
			fmt.Fprintln(os.Stderr, errs.Error())
		} else {
			fmt.Fprintf(os.Stderr, "hearth %s: %v\n", cmd, err)
		}
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: hearth serve [-config hearth.yaml] [-addr 127.0.0.1:8080] [-web DIR | -web /PREFIX/=DIR ...] [-store PATH|URL] [-jwt-...] [-public-host NAME ...] [-insecure] [-sync=false]
           without -config: the demo board [-seed-tasks N] [-seed-today YYYY-MM-DD] [-demo-auth]
       hearth check [-config hearth.yaml]    validate a config: every mistake as file:line:col: key: message
       hearth schema [-config hearth.yaml]   the app's migrations and synced tables as JSON
       hearth token -config hearth.yaml -sub USER [-scopes a,b] [-roles admin] [-ttl 1h]
                                             a JWT signed with the config's HS256 secret (development)`)
}

// loadApp loads the config at path, or the demo board's without one.
func loadApp(path string) (*appconfig.App, error) {
	if path == "" {
		return boardschema.App()
	}
	return appconfig.Load(path)
}

// appFromArgs parses the flags of a command whose only flag is -config
// and loads that app.
func appFromArgs(cmd string, args []string) (*appconfig.App, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	config := fs.String("config", "", "the app's hearth.yaml (default: the demo board's)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return loadApp(*config)
}

// check validates a config and summarizes it.
func check(args []string, out io.Writer) error {
	app, err := appFromArgs("check", args)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ok: app %s: %s, %s, %s\n", app.Name, plural(len(app.Migrations), "migration"),
		plural(len(app.Tables), "table"), plural(len(app.Invariants), "invariant"))
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printSchema writes the app's {app, migrations: [{version, sql}],
// tables: [{name, resurrect}]}.
func printSchema(args []string, out io.Writer) error {
	app, err := appFromArgs("schema", args)
	if err != nil {
		return err
	}
	b, err := app.SchemaJSON()
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// mintToken prints a JWT the config's server accepts: what a newcomer
// uses before their backend issues tokens, and what tests use.
func mintToken(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	config := fs.String("config", "", "the app's hearth.yaml, whose auth.jwt.secret_file signs the token (required)")
	sub := fs.String("sub", "", "the user (sub claim; required)")
	scopes := fs.String("scopes", "", "comma-separated scopes the user reads and writes (the scopes claim)")
	roles := fs.String("roles", "", "comma-separated roles (the roles claim)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *config == "":
		return errors.New("-config is required")
	case *sub == "":
		return errors.New("-sub is required")
	case *ttl <= 0:
		return errors.New("-ttl must be positive")
	}
	app, err := appconfig.Load(*config)
	if err != nil {
		return err
	}
	issuer := app.Issuer()
	if issuer == nil {
		return fmt.Errorf("%s: tokens can be minted only with auth.jwt.secret_file (HS256); a public-key config's tokens come from the holder of the private key", *config)
	}
	tok, err := issuer.IssueWithRoles(*sub, list(*scopes), list(*roles), *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, tok)
	return nil
}

// list splits a comma-separated flag (nil when empty).
func list(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// serveConfig is what serve runs, from its flags and the app's config.
type serveConfig struct {
	addr   string
	mounts webMounts
	app    *appconfig.App
	// board is set when serving the demo board (no -config).
	board bool
	// syncOn serves /sync, /metrics, /healthz, /v1/schema and
	// /v1/replica.
	syncOn bool
	// store is a SQLite path ("" in memory) or a postgres:// URL;
	// demoStore says it is the demo board's default (see demoStore).
	store     string
	demoStore bool
	auth      *syncAuth
	seedTasks int
	today     time.Time
	// publicHosts are the names answered besides loopback and IP
	// literals (hostGuard).
	publicHosts []string
	// openAccess: the sync endpoint has no real authentication (none, or
	// demo tokens for anyone).
	openAccess bool
	// metricsAddr, when set, serves /metrics and /healthz there alone.
	metricsAddr string
}

// demoStore is the demo board's default store: a SQLite file in the
// user's cache directory (hearth/board.db), so that the board's data
// outlives a restart of the server. In memory, a restart lost what
// devices had pushed and, worse, seeded the demo workspace again with
// fresh stamps, which beat every edit devices made to it before. ""
// (memory) when there is no cache directory. run creates the directory.
func demoStore() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "hearth", "board.db")
}

// loopbackAddr reports whether a listen address is reachable from this
// machine only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs until ctx is done, announcing its URL on out.
func serve(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := configure(args)
	if err != nil {
		return err
	}
	return run(ctx, cfg, out)
}

// configure reads serve's flags and the app's config. Flags given
// explicitly override the file.
func configure(args []string) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config := fs.String("config", "", "the app's hearth.yaml (default: the demo board, embedded)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	var mounts webMounts
	fs.Var(&mounts, "web", "web assets to serve: DIR (at /) or /PREFIX/=DIR; repeatable (default: web at /, examples/board/web at /board/)")
	var evalPrefixes stringList
	fs.Var(&evalPrefixes, "csp-unsafe-eval", "a -web prefix (e.g. /board/) whose pages may evaluate strings as code ('unsafe-eval' in their Content-Security-Policy), for frameworks that need it; repeatable (default: /board/ when serving the demo board, whose vugu renderer evaluates its helper)")
	syncOn := fs.Bool("sync", true, "serve the sync endpoint /sync for the app's schema")
	storeFlag := fs.String("store", "", "sync server store: a SQLite file path (empty: in memory, gone on exit) or a postgres:// URL (many instances may share it); overrides the config's store (default: the config's; for the demo board, board.db in the user's cache directory)")
	seedTasks := fs.Int("seed-tasks", 400, "demo board only: seed an empty store with a demo workspace of this many tasks (0: no seed)")
	seedToday := fs.String("seed-today", "", "demo board only: the day (YYYY-MM-DD) the demo seed's meetings and due dates are placed around (default: today on this machine's clock, in its time zone)")
	jwtSecretFile := fs.String("jwt-secret-file", "", "require HS256 JWTs signed with the secret in this file on /sync (overrides the config's auth)")
	jwtPublicKey := fs.String("jwt-public-key", "", "require EdDSA or RS256 JWTs verified with this PEM public key on /sync (overrides the config's auth)")
	jwtAudience := fs.String("jwt-audience", "hearth-sync", "audience the JWTs must name")
	jwtIssuer := fs.String("jwt-issuer", "", "issuer the JWTs must name (empty: any)")
	var publicHosts stringList
	fs.Var(&publicHosts, "public-host", "a host name this server answers to besides loopback names and IP literals (e.g. sync.example.com); repeatable, adds to the config's public_hosts")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics and /healthz on this address (e.g. 127.0.0.1:9090) instead of beside /sync, so that only the operator's network reaches them")
	insecure := fs.Bool("insecure", false, "allow serving on a non-loopback address without real authentication (no JWT, or -demo-auth): anyone who reaches the port may read and write everything")
	demoAuth := fs.Bool("demo-auth", false, "demo board only: require JWTs on /sync, signed with a random secret, and mint them for the demo users at /demo/token?user=u-01")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := &serveConfig{addr: *addr, metricsAddr: *metricsAddr, mounts: mounts, syncOn: *syncOn, board: *config == "", seedTasks: *seedTasks}
	if !cfg.board {
		for _, name := range []string{"seed-tasks", "seed-today", "demo-auth"} {
			if set[name] {
				return nil, fmt.Errorf("-%s is for the demo board only, not with -config", name)
			}
		}
		cfg.seedTasks = 0
	}
	app, err := loadApp(*config)
	if err != nil {
		return nil, err
	}
	cfg.app = app
	if cfg.today, err = seedDay(*seedToday, time.Now()); err != nil {
		return nil, err
	}
	if len(cfg.mounts) == 0 {
		cfg.mounts = defaultMounts()
	}
	for _, m := range cfg.mounts {
		if _, err := os.Stat(m.dir); err != nil {
			return nil, fmt.Errorf("web assets: %w", err)
		}
	}
	if !set["csp-unsafe-eval"] && cfg.board && cfg.mounts.mounted("/board/") {
		// vugu's DOM renderer evaluates its JavaScript helper.
		evalPrefixes = stringList{"/board/"}
	}
	if err := cfg.mounts.allowEval(evalPrefixes); err != nil {
		return nil, err
	}
	cfg.publicHosts = append(append([]string(nil), app.PublicHosts...), publicHosts...)
	cfg.store = app.Store.URL + app.Store.Path // at most one is set
	if set["store"] {
		cfg.store = *storeFlag
	} else if cfg.board && *syncOn {
		cfg.store = demoStore()
		cfg.demoStore = cfg.store != ""
	}
	if !cfg.syncOn {
		return cfg, nil
	}
	flags := authFlags{secretFile: *jwtSecretFile, publicKeyFile: *jwtPublicKey, demo: *demoAuth}
	if set["jwt-audience"] {
		flags.audience = jwtAudience
	}
	if set["jwt-issuer"] {
		flags.issuer = jwtIssuer
	}
	if cfg.auth, err = newSyncAuth(app, flags); err != nil {
		return nil, fmt.Errorf("sync authentication: %w", err)
	}
	if cfg.auth != nil && cfg.seedTasks > 0 && cfg.auth.demo == nil {
		return nil, errors.New("-seed-tasks needs a token to seed with, and this server verifies real ones: use -seed-tasks 0 (and seed through your backend)")
	}
	cfg.openAccess = cfg.auth == nil || cfg.auth.demo != nil
	if cfg.openAccess && !*insecure && !loopbackAddr(cfg.addr) {
		return nil, fmt.Errorf("-addr %s is reachable from other machines, and without real authentication anyone there could read and write everything: listen on 127.0.0.1, configure auth, or pass -insecure", cfg.addr)
	}
	return cfg, nil
}

// run serves cfg until ctx is done.
func run(ctx context.Context, cfg *serveConfig, out io.Writer) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mux := http.NewServeMux()
	cfg.mounts.register(mux)
	var syncServer *syncserver.Server
	if cfg.demoStore {
		if err := os.MkdirAll(filepath.Dir(cfg.store), 0o700); err != nil {
			ln.Close()
			return fmt.Errorf("the demo board's store: %w", err)
		}
	}
	if cfg.syncOn {
		if syncServer, err = newSyncServer(context.Background(), cfg, log); err != nil {
			ln.Close()
			return err
		}
		defer syncServer.Close()
		mux.Handle("/sync", syncServer.Handler())
		ops := mux
		if cfg.metricsAddr != "" {
			ops = http.NewServeMux()
			opsLn, err := net.Listen("tcp", cfg.metricsAddr)
			if err != nil {
				ln.Close()
				return fmt.Errorf("-metrics-addr: %w", err)
			}
			opsSrv := &http.Server{Handler: ops, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
			go opsSrv.Serve(opsLn)
			defer opsSrv.Close()
			log.Info("serving /metrics and /healthz", "addr", opsLn.Addr().String())
		}
		ops.Handle("/metrics", syncServer.MetricsHandler())
		ops.Handle("/healthz", syncServer.HealthHandler())
		schema, err := newSchemaHandler(cfg.app)
		if err != nil {
			ln.Close()
			return err
		}
		mux.Handle("GET /v1/schema", schema)
		replicas, err := newReplicaHandler(cfg.app, syncServer, log)
		if err != nil {
			ln.Close()
			return err
		}
		if replicas != nil {
			defer replicas.Close()
			// No method in the pattern: the handler answers other
			// methods with its own JSON 405.
			mux.Handle("/v1/replica", replicas)
		}
		if len(cfg.app.ServiceTokens) > 0 {
			// No method in the pattern: the handler answers other
			// methods with its own JSON 405.
			mux.Handle("/v1/write", syncServer.WriteHandler(cfg.app.ServiceTokens))
		}
		switch {
		case cfg.auth != nil && cfg.auth.demo != nil:
			mux.HandleFunc("/demo/token", cfg.auth.serveDemoToken)
		case cfg.auth == nil:
			// No authentication: the board's page asks for a demo token
			// on every start, and needs none. 204, not a 404 its console
			// would report as an error on every visit of `make demo`.
			mux.HandleFunc("GET /demo/token", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		}
	}
	// IdleTimeout closes keep-alive connections that send nothing (a
	// review held 100 idle ones open); sync sessions are hijacked and
	// keep their own deadlines.
	srv := &http.Server{Handler: newHostGuard(cfg.publicHosts, mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	base := fmt.Sprintf("http://%s/", ln.Addr())
	if syncServer != nil && cfg.seedTasks > 0 && syncServer.Info().Head == 0 {
		// Seed through our own endpoint, as a device would, before
		// announcing the URL: the first board then syncs the whole set.
		seedCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		seedURL := "ws" + strings.TrimPrefix(base, "http") + "sync"
		if cfg.auth != nil {
			// The admin role (the board's hearth.yaml) writes every
			// workspace and every users row.
			token, err := cfg.auth.demo.IssueWithRoles("seeder", []string{boardschema.MainWorkspace, boardschema.SideWorkspace}, []string{"admin"}, time.Hour)
			if err != nil {
				cancel()
				return err
			}
			seedURL += "?token=" + url.QueryEscape(token)
		}
		n, err := seedDemo(seedCtx, seedURL, cfg.seedTasks, cfg.today)
		cancel()
		if err != nil {
			return err
		}
		log.Info("seeded the demo workspace", "tasks", cfg.seedTasks, "today", cfg.today.Format(boardmodel.DateLayout), "changes", n)
	}

	if cfg.syncOn && cfg.board && cfg.store != "" && !strings.Contains(cfg.store, "://") {
		log.Info("sync: the demo board's store", "path", cfg.store)
	}
	if cfg.syncOn && cfg.store == "" {
		log.Warn("sync: the store is in memory: everything synced is lost when the server stops (set store in the config, or -store)")
	}
	if cfg.syncOn && cfg.openAccess {
		what := "no authentication: every client may read and write every row"
		if cfg.auth != nil {
			what = "demo authentication: /demo/token hands a token to anyone who asks"
		}
		log.Warn("sync: "+what+"; for development only", "addr", ln.Addr().String())
	}
	// The URL goes to stdout, alone on its line, for people and test
	// harnesses alike.
	fmt.Fprintf(out, "Hearth is serving %s\n", base)
	if cfg.board && cfg.mounts.serves("/board/index.html") {
		fmt.Fprintf(out, "Task board: %sboard/\n", base)
	}
	if f, ok := out.(*os.File); ok {
		f.Sync()
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if syncServer != nil {
		// Sync sessions are hijacked connections: http.Server.Shutdown
		// does not wait for them, the sync server drains its own.
		if err := syncServer.Shutdown(shutdownCtx); err != nil {
			log.Warn("sync shutdown", "err", err)
		}
	}
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
