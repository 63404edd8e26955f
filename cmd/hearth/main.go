// Command hearth runs Hearth's server: `hearth serve` serves the web assets,
// the wasm bundle and the demo pages, and the sync endpoint (/sync) for the
// demo task board's schema, on a loopback address.
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
	"strings"
	"syscall"
	"time"

	boardmodel "github.com/hearthdb/hearth/examples/board/model"
	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/syncserver"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := serve(ctx, os.Args[2:], os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "hearth serve:", err)
			os.Exit(1)
		}
	case "schema":
		// The demo board's schema as JSON, for JS pages and tests that
		// open the same database the server syncs.
		if err := printSchema(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "hearth schema:", err)
			os.Exit(1)
		}
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "hearth: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hearth serve [-addr 127.0.0.1:8080] [-web DIR | -web /PREFIX/=DIR ...] [-store PATH] [-seed-tasks N] [-seed-today YYYY-MM-DD] [-sync=false]\n       hearth schema   (the demo board's migrations and synced tables as JSON)")
}

// serve runs until ctx is done, announcing its URL on out.
func serve(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	var mounts webMounts
	fs.Var(&mounts, "web", "web assets to serve: DIR (at /) or /PREFIX/=DIR; repeatable (default: web at /, examples/board/web at /board/)")
	syncOn := fs.Bool("sync", true, "serve the sync endpoint /sync for the demo board's schema")
	storePath := fs.String("store", "", "sync server store: a SQLite file path (empty: in memory, gone on exit) or a postgres:// URL (many instances may share it)")
	seedTasks := fs.Int("seed-tasks", 400, "seed an empty store with a demo workspace of this many tasks (0: no seed)")
	seedToday := fs.String("seed-today", "", "the day (YYYY-MM-DD) the demo seed's meetings and due dates are placed around (default: today on this machine's clock, in its time zone)")
	jwtSecretFile := fs.String("jwt-secret-file", "", "require HS256 JWTs signed with the secret in this file on /sync")
	jwtPublicKey := fs.String("jwt-public-key", "", "require EdDSA or RS256 JWTs verified with this PEM public key on /sync")
	jwtAudience := fs.String("jwt-audience", "hearth-sync", "audience the JWTs must name")
	jwtIssuer := fs.String("jwt-issuer", "", "issuer the JWTs must name (empty: any)")
	demoAuth := fs.Bool("demo-auth", false, "require JWTs on /sync, signed with a random secret, and mint them for the demo users at /demo/token?user=u-01")
	if err := fs.Parse(args); err != nil {
		return err
	}
	today, err := seedDay(*seedToday, time.Now())
	if err != nil {
		return err
	}
	if len(mounts) == 0 {
		mounts = defaultMounts()
	}
	for _, m := range mounts {
		if _, err := os.Stat(m.dir); err != nil {
			return fmt.Errorf("web assets: %w", err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mux := http.NewServeMux()
	mounts.register(mux)
	var syncServer *syncserver.Server
	var seedAuth *syncAuth // set when seeding needs a token
	if *syncOn {
		authn, err := newSyncAuth(*jwtSecretFile, *jwtPublicKey, *jwtAudience, *jwtIssuer, *demoAuth)
		if err != nil {
			return fmt.Errorf("sync authentication: %w", err)
		}
		var identify func(*http.Request) (syncserver.Identity, error)
		if authn != nil {
			identify = authn.verifier.Identify
			if authn.demo != nil {
				mux.HandleFunc("/demo/token", authn.serveDemoToken)
				seedAuth = authn
			}
		}
		if syncServer, err = newSyncServer(context.Background(), *storePath, identify, log); err != nil {
			return err
		}
		defer syncServer.Close()
		mux.Handle("/sync", syncServer.Handler())
		mux.Handle("/metrics", syncServer.MetricsHandler())
		mux.Handle("/healthz", syncServer.HealthHandler())
		if authn != nil && *seedTasks > 0 && authn.demo == nil {
			return errors.New("-seed-tasks needs -demo-auth or no JWT flags: the seeder has no token (use -seed-tasks 0)")
		}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	base := fmt.Sprintf("http://%s/", ln.Addr())
	if syncServer != nil && *seedTasks > 0 && syncServer.Info().Head == 0 {
		// Seed through our own endpoint, as a device would, before
		// announcing the URL: the first board then syncs the whole set.
		seedCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		seedURL := "ws" + strings.TrimPrefix(base, "http") + "sync"
		if seedAuth != nil {
			token, err := seedAuth.demo.Issue("seeder", []string{boardschema.MainWorkspace, boardschema.SideWorkspace}, time.Hour)
			if err != nil {
				cancel()
				return err
			}
			seedURL += "?token=" + url.QueryEscape(token)
		}
		n, err := seedDemo(seedCtx, seedURL, *seedTasks, today)
		cancel()
		if err != nil {
			return err
		}
		log.Info("seeded the demo workspace", "tasks", *seedTasks, "today", today.Format(boardmodel.DateLayout), "changes", n)
	}

	// The URL goes to stdout, alone on its line, for people and test
	// harnesses alike.
	fmt.Fprintf(out, "Hearth is serving %s\n", base)
	if mounts.serves("/board/index.html") {
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
