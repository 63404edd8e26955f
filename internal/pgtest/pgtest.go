// Package pgtest runs a private PostgreSQL server for tests: initdb into
// a temporary directory, postgres on a free loopback port, one fresh
// database per caller, everything removed when the test binary is done.
//
// The server binaries are looked up in HEARTH_POSTGRES_BIN if set, else in
// PATH and under /usr/lib/postgresql/*/bin (Debian's postgresql package). When they are
// missing, tests skip with a loud message, unless HEARTH_REQUIRE_POSTGRES=1
// is set (CI), which turns the skip into a failure.
//
// PostgreSQL refuses to run as root, and CI runs as root: then the server
// runs as the "postgres" system user (Debian's package creates it), in a
// directory that user owns.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireEnv makes missing PostgreSQL binaries a test failure.
const RequireEnv = "HEARTH_REQUIRE_POSTGRES"

// Server is a running private PostgreSQL server.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	dbs  atomic.Int64
}

// BinEnv names a directory to take initdb and postgres from instead of
// searching for them.
const BinEnv = "HEARTH_POSTGRES_BIN"

// FindBin returns the directory holding initdb and postgres.
func FindBin() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		if isExec(filepath.Join(dir, "postgres")) && isExec(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
		return "", fmt.Errorf("%s=%s holds no postgres and initdb", BinEnv, dir)
	}
	var candidates []string
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	// Debian keeps the server binaries out of PATH; prefer the newest.
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return pgMajor(versions[i]) > pgMajor(versions[j]) })
	candidates = append(candidates, versions...)
	for _, dir := range candidates {
		if isExec(filepath.Join(dir, "postgres")) && isExec(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (postgres, initdb) in PATH or /usr/lib/postgresql/*/bin; install Debian's postgresql package")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start initializes and starts a server. The caller stops it.
func Start() (*Server, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempBase(), "hearth-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		os.Chown(logFile.Name(), int(cred.Uid), int(cred.Gid))
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// Another process may take the free port before postgres binds it
	// (test binaries start servers side by side): try a few.
	var s *Server
	for attempt := 1; ; attempt++ {
		s, err = startServer(bin, dir, data, logFile, cred)
		if err == nil || attempt == 3 {
			break
		}
	}
	if err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func startServer(bin, dir, data string, logFile *os.File, cred *syscall.Credential) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, port: port, done: make(chan struct{}), log: logFile}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB")
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	dieWithParent(s.cmd.SysProcAttr)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// tempBase is where the server's directory goes: the usual temporary
// directory, unless we are root and it is not reachable by the postgres
// user (a TMPDIR under /root, say); then /tmp.
func tempBase() string {
	base := os.TempDir()
	if os.Geteuid() != 0 {
		return base
	}
	for dir := base; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if dir == filepath.Dir(dir) {
			return base
		}
	}
}

// serverCredential is who the server runs as: the postgres user when we
// are root (PostgreSQL refuses root), else ourselves (nil).
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs a postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("pgtest: postgres exited during startup:\n%s", s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after %v: %v\n%s", timeout, err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// URL is a connection URL for a database on the server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// CreateDatabase creates a fresh, empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("hearth_test_%d", s.dbs.Add(1))
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return s.URL(name), nil
}

// Stop shuts the server down (fast: open connections are cut) and
// removes its directory.
func (s *Server) Stop() {
	s.kill()
	s.log.Close()
	os.RemoveAll(s.dir)
}

func (s *Server) kill() {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
}

var (
	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error
)

// URL returns a fresh database on the test binary's shared server,
// starting the server on first use. Without PostgreSQL binaries it skips
// the test (or fails it under HEARTH_REQUIRE_POSTGRES=1). Call StopShared
// from TestMain once the tests are done.
func URL(t testing.TB) string {
	t.Helper()
	sharedMu.Lock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = Start()
	}
	srv, err := shared, sharedErr
	sharedMu.Unlock()
	if err != nil {
		Unavailable(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// Unavailable skips (or, under HEARTH_REQUIRE_POSTGRES=1, fails) a test
// that needs PostgreSQL.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	msg := "\n*** PostgreSQL is not available: " + err.Error()
	if strings.TrimSpace(os.Getenv(RequireEnv)) == "1" {
		t.Fatal(msg + "\n*** " + RequireEnv + "=1: this is a failure.\n")
	}
	msg += "\n*** PostgreSQL tests are SKIPPED. Set " + RequireEnv + "=1 to make this a failure.\n"
	fmt.Fprint(os.Stderr, msg)
	t.Skip(msg)
}

// StopShared stops the shared server, if one was started.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		shared.Stop()
		shared = nil
	}
}
