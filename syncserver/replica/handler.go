package replica

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/auth"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Defaults of Config.
const (
	DefaultMaxBuilds = 2
	DefaultMaxBytes  = 256 << 20
	DefaultTimeout   = 2 * time.Minute
)

// Error codes of the endpoint besides wire's (BAD_REQUEST, UNAUTHORIZED,
// SCHEMA_MISMATCH, TOO_LARGE, INTERNAL). A device that gets any of them
// syncs the ordinary way, by snapshot.
const (
	// CodeBusy: as many builds as the server allows are running, or one
	// for the same principal, or the principal is over its snapshot rate;
	// Retry-After says when to ask again.
	CodeBusy = "REPLICA_BUSY"
	// CodeForbiddenOrigin: a page of an origin not in
	// Config.OriginPatterns asked.
	CodeForbiddenOrigin = "FORBIDDEN_ORIGIN"
)

// Config configures a Handler.
type Config struct {
	// Sync is the server's sync endpoint (syncserver.Server.Handler),
	// which each build connects to in process.
	Sync http.Handler
	// Head is the server's log head (syncserver.Server.Head). A kept
	// file at it is sent as it is, without a build: nothing was written
	// since. Nil: every request builds (or continues a kept file).
	Head func() int64
	// TakeRows charges a kept file's rows, sent without a build, to the
	// principal's snapshot bucket (syncserver.Server.TakeSnapshotRows),
	// reporting whether they fit now (else the request gets CodeBusy);
	// nil charges nothing.
	TakeRows func(principal string, rows int64) bool
	// Identify checks the request's credential before a build starts;
	// nil accepts every request, as a server without authentication
	// does. The build's session checks the credential again, as for any
	// device.
	Identify func(r *http.Request) (syncserver.Identity, error)
	// Migrations and Tables are the app's, as the server publishes them
	// (GET /v1/schema): a request must name their
	// appschema.Fingerprint.
	Migrations []appschema.Migration
	Tables     []appschema.Table
	// MaxBuilds bounds the builds running at once (default
	// DefaultMaxBuilds; a file being sent holds none); MaxBytes a file's
	// size (default DefaultMaxBytes); Timeout one build (default
	// DefaultTimeout).
	MaxBuilds int
	MaxBytes  int64
	Timeout   time.Duration
	// CacheBytes bounds the files kept for the next device of a caller
	// with the same principal, scopes and roles, which then pulls only
	// the log written since
	// (default DefaultCacheBytes; negative keeps none).
	CacheBytes int64
	// Dir holds the Handler's folder of files being built, sent and kept
	// ("": os.TempDir()); Close removes it.
	Dir    string
	Logger *slog.Logger
	// OriginPatterns are the cross-origin pages allowed to download, as
	// for /sync (syncserver.Config.OriginPatterns: host patterns such as
	// "localhost:5173" or "*.example.com"; same-origin pages always may).
	// Other origins are refused before anything is built.
	OriginPatterns []string
}

// readsKey is everything the server's read rules look at (principal,
// scopes, roles): callers with the same key read the same rows, so a
// file kept for one is continued for the next.
func readsKey(id syncserver.Identity) string {
	scopes, roles := slices.Clone(id.Scopes), slices.Clone(id.Roles)
	slices.Sort(scopes)
	slices.Sort(roles)
	return strconv.Quote(id.Principal) + " " + strconv.Quote(strings.Join(scopes, "\x00")) + " " + strconv.Quote(strings.Join(roles, "\x00"))
}

// Handler serves GET /v1/replica (PROTOCOL.md, "Replica files"): it
// builds the caller's replica and sends it, gzip-compressed when the
// caller accepts it.
type Handler struct {
	cfg         Config
	fingerprint string
	slots       chan struct{}
	pipe        *pipeListener
	server      *http.Server
	// dial connects a build's client to cfg.Sync through pipe.
	dial client.Dialer

	dir  string
	kept cache

	mu       sync.Mutex
	building map[string]bool // principals with a build running
}

// NewHandler makes the Handler's folder in cfg.Dir and starts the
// in-process connection to cfg.Sync; Close stops it and removes the
// folder.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.MaxBuilds <= 0 {
		cfg.MaxBuilds = DefaultMaxBuilds
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.CacheBytes == 0:
		cfg.CacheBytes = DefaultCacheBytes
	case cfg.CacheBytes < 0:
		cfg.CacheBytes = 0
	}
	dir, err := os.MkdirTemp(cfg.Dir, "hearth-replicas-")
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	h := &Handler{
		dir:         dir,
		kept:        cache{max: cfg.CacheBytes, now: time.Now, entries: map[string]*cached{}},
		cfg:         cfg,
		fingerprint: appschema.Fingerprint(cfg.Migrations, cfg.Tables),
		slots:       make(chan struct{}, cfg.MaxBuilds),
		pipe:        newPipeListener(),
		building:    map[string]bool{},
	}
	h.server = &http.Server{Handler: cfg.Sync, ReadHeaderTimeout: 10 * time.Second}
	go h.server.Serve(h.pipe)
	h.dial = client.WebSocketDialer(&http.Client{Transport: &http.Transport{DialContext: h.pipe.dial}})
	return h, nil
}

// Close stops the in-process connection (builds running fail) and
// removes the Handler's files.
func (h *Handler) Close() error {
	err := h.server.Close()
	h.kept.clear()
	if rerr := os.RemoveAll(h.dir); err == nil {
		err = rerr
	}
	return err
}

// Fingerprint is the schema fingerprint requests must name.
func (h *Handler) Fingerprint() string { return h.fingerprint }

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (h *Handler) fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.cfg.Logger.Info("replica: refused", "status", status, "code", code, "message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Code: code, Message: msg})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" {
		if !h.originAllowed(origin, r.Host) {
			h.fail(w, http.StatusForbidden, CodeForbiddenOrigin, "pages from %.100q may not download replicas (allowed_origins)", origin)
			return
		}
		// A cross-origin page's fetch sends its credential in a header,
		// so the browser asks first (preflight), and reads the size
		// header only if told it may.
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Add("Vary", "Origin")
		hd.Set("Access-Control-Expose-Headers", HeaderSize+", "+HeaderCursor+", "+HeaderSchema)
		if r.Method == http.MethodOptions {
			hd.Set("Access-Control-Allow-Methods", "GET")
			hd.Set("Access-Control-Allow-Headers", "Authorization")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		h.fail(w, http.StatusMethodNotAllowed, wire.CodeBadRequest, "the replica endpoint answers GET")
		return
	}
	q := r.URL.Query()
	// A request without a schema is a worker's head start (PROTOCOL.md),
	// made before its Go could compute the fingerprint: it gets the
	// server's schema, named in HeaderSchema for the worker to check.
	if got, ok := q["schema"]; ok && (len(got) != 1 || got[0] != h.fingerprint) {
		h.fail(w, http.StatusConflict, wire.CodeSchemaMismatch, "the request's schema %.64q is not the server's %s: sync by snapshot", got, h.fingerprint)
		return
	}
	var layout Layout
	var err error
	if layout.PageSize, err = strconv.Atoi(q.Get("page_size")); err == nil {
		layout.AutoVacuum, err = strconv.Atoi(q.Get("auto_vacuum"))
	}
	if err == nil {
		err = layout.Check()
	}
	if err != nil {
		h.fail(w, http.StatusBadRequest, wire.CodeBadRequest, "page_size and auto_vacuum: %v", err)
		return
	}
	var caller syncserver.Identity
	if h.cfg.Identify != nil {
		if caller, err = h.cfg.Identify(r); err != nil {
			h.cfg.Logger.Info("replica: authentication failed", "remote", r.RemoteAddr, "err", err)
			h.fail(w, http.StatusUnauthorized, wire.CodeUnauthorized, "the credential is missing, invalid or expired")
			return
		}
	}
	principal := caller.Principal
	key := fmt.Sprintf("%d/%d/%s", layout.PageSize, layout.AutoVacuum, readsKey(caller))
	start := time.Now()
	kept, done, ok := h.kept.read(key)
	if ok && h.cfg.Head != nil && kept.cursor >= h.cfg.Head() {
		// Nothing was written since the kept file was built: it is what
		// a build would make, and its compressed copy what a build's
		// response would send. Its rows are charged as a session would
		// read them: without a build to pace, a caller over its rate is
		// refused (its device syncs by snapshot, which the same bucket
		// paces).
		if h.cfg.TakeRows != nil && !h.cfg.TakeRows(principal, kept.rows) {
			done()
			w.Header().Set("Retry-After", "5")
			h.fail(w, http.StatusServiceUnavailable, CodeBusy, "the principal is over its snapshot rate: sync by snapshot, or ask again later")
			return
		}
		gz, err := h.send(w, r, kept)
		done()
		if !errors.Is(err, errGone) {
			h.kept.setGz(key, kept.path, gz)
			h.logSent(principal, kept, err, "kept", 0, start)
			return
		}
	}
	done()
	take, free := h.take(principal)
	if !free {
		w.Header().Set("Retry-After", "5")
		h.fail(w, http.StatusServiceUnavailable, CodeBusy, "the server is building as many replicas as it allows: sync by snapshot, or ask again later")
		return
	}
	// The slot bounds builds, not downloads: it is given back once the
	// build ends, before the file is sent, so that a caller reading
	// slowly (or a worker's head start not read yet) does not keep
	// others' builds waiting.
	release := sync.OnceFunc(take)
	defer release()

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	from, how := h.kept.continueFrom(key, h.copyKept), "continued"
	if from == "" {
		how = "built"
	}
	f, err := Build(ctx, Request{
		URL:        "ws://replica.invalid/sync",
		Dial:       h.dial,
		Token:      auth.TokenFromRequest(r),
		Migrations: h.cfg.Migrations,
		Tables:     h.cfg.Tables,
		Layout:     layout,
		Dir:        h.dir,
		MaxBytes:   h.cfg.MaxBytes,
		From:       from,
	})
	release()
	if err != nil {
		switch {
		case errors.Is(err, ErrUnauthorized):
			h.fail(w, http.StatusUnauthorized, wire.CodeUnauthorized, "the credential is missing, invalid or expired")
		case errors.Is(err, ErrTooLarge):
			h.fail(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "the replica would be larger than the server's %d bytes: sync by snapshot", h.cfg.MaxBytes)
		default:
			h.cfg.Logger.Warn("replica: build failed", "principal", principal, "err", err)
			h.fail(w, http.StatusInternalServerError, wire.CodeInternal, "the replica could not be built: sync by snapshot")
		}
		return
	}
	built := time.Since(start)
	made := cached{path: f.Path, size: f.Size, cursor: f.Cursor, rows: f.Rows}
	gz, err := h.send(w, r, made)
	h.kept.put(key, f)
	h.kept.setGz(key, f.Path, gz)
	h.logSent(principal, made, err, how, built, start)
}

// logSent logs a response's end.
func (h *Handler) logSent(principal string, f cached, err error, how string, built time.Duration, start time.Time) {
	if err != nil {
		h.cfg.Logger.Info("replica: sending failed", "principal", principal, "err", err)
		return
	}
	h.cfg.Logger.Info("replica: sent", "principal", principal, "bytes", f.size-f.gzSize, "cursor", f.cursor, "file", how,
		"build", built.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
}

// copyKept copies a kept file for a build to continue; "" when it could
// not (it was dropped meanwhile): the build then starts afresh.
func (h *Handler) copyKept(path string) string {
	src, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer src.Close()
	dst, err := os.CreateTemp(h.dir, "hearth-replica-*.db")
	if err != nil {
		return ""
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst.Name())
		return ""
	}
	return dst.Name()
}

// originAllowed applies /sync's rule (github.com/coder/websocket's): the
// Origin's host is the request's, or matches a pattern (path.Match, case
// folded; a pattern with "://" matches scheme and host).
func (h *Handler) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, p := range h.cfg.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// take claims a build slot and the principal's one build.
func (h *Handler) take(principal string) (release func(), ok bool) {
	h.mu.Lock()
	// Without authentication every caller is "": only the slots bound them.
	if principal != "" && h.building[principal] {
		h.mu.Unlock()
		return nil, false
	}
	select {
	case h.slots <- struct{}{}:
	default:
		h.mu.Unlock()
		return nil, false
	}
	if principal != "" {
		h.building[principal] = true
	}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.building, principal)
		h.mu.Unlock()
		<-h.slots
	}, true
}

// Headers of a replica response.
const (
	// HeaderCursor is the log position the file has applied.
	HeaderCursor = "Hearth-Replica-Cursor"
	// HeaderSize is the file's size before any Content-Encoding.
	HeaderSize = "Hearth-Replica-Size"
	// HeaderSchema is the fingerprint of the schema the file was built
	// with (appschema.Fingerprint), which a request without one did not
	// name.
	HeaderSchema = "Hearth-Replica-Schema"
)

// errGone: a kept file was dropped before its response began; nothing
// was written.
var errGone = errors.New("the kept file is gone")

// send writes the file f as the response: its compressed copy when it
// has one and the caller accepts gzip; otherwise compressed as it is
// sent, the compressed bytes also written to a file, returned when whole
// (for the cache to keep as f's copy; the zero compressed otherwise).
func (h *Handler) send(w http.ResponseWriter, r *http.Request, f cached) (compressed, error) {
	gzipped := acceptsGzip(r.Header.Get("Accept-Encoding"))
	name := f.path
	if gzipped && f.gz != "" {
		name = f.gz
	}
	file, err := os.Open(name)
	if err != nil {
		return compressed{}, fmt.Errorf("%w: %w", errGone, err)
	}
	defer file.Close()
	size := f.size - f.gzSize
	hd := w.Header()
	hd.Set("Content-Type", "application/vnd.sqlite3")
	hd.Set("Cache-Control", "no-store")
	hd.Set(HeaderCursor, strconv.FormatInt(f.cursor, 10))
	hd.Set(HeaderSize, strconv.FormatInt(size, 10))
	hd.Set(HeaderSchema, h.fingerprint)
	hd.Add("Vary", "Accept-Encoding")
	switch {
	case !gzipped:
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		_, err = io.Copy(w, file)
		return compressed{}, err
	case f.gz != "":
		hd.Set("Content-Encoding", "gzip")
		hd.Set("Content-Length", strconv.FormatInt(f.gzSize, 10))
		_, err = io.Copy(w, file)
		return compressed{}, err
	}
	// A database compresses 3–5 times; the fastest level keeps the
	// server's time per byte below the network's.
	hd.Set("Content-Encoding", "gzip")
	tee := &teeWriter{w: w}
	if tee.copy, tee.err = os.CreateTemp(h.dir, "hearth-replica-*.db.gz"); tee.err != nil {
		tee.copy = nil
	}
	zw, _ := gzip.NewWriterLevel(tee, gzip.BestSpeed)
	_, err = io.Copy(zw, file)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return tee.finish(err == nil), err
}

// compressed is a file's gzip copy: path "" when there is none.
type compressed struct {
	path string
	size int64
}

// teeWriter writes to w and, while it can, to copy; a failing copy
// fails nothing but itself.
type teeWriter struct {
	w    io.Writer
	copy *os.File
	n    int64
	err  error
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if t.copy != nil && t.err == nil && n > 0 {
		var m int
		m, t.err = t.copy.Write(p[:n])
		t.n += int64(m)
	}
	return n, err
}

// finish closes the copy and returns it when whole (the response was).
func (t *teeWriter) finish(whole bool) compressed {
	if t.copy == nil {
		return compressed{}
	}
	err := t.copy.Close()
	if !whole || t.err != nil || err != nil {
		os.Remove(t.copy.Name())
		return compressed{}
	}
	return compressed{t.copy.Name(), t.n}
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
				return false
			}
		}
		return true
	}
	return false
}

// pipeListener hands in-process connections (net.Pipe) to an http.Server,
// so a build's client reaches the sync endpoint without a socket, a host
// name or the public listener's limits.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	near, far := net.Pipe()
	select {
	case l.conns <- far:
		return near, nil
	case <-l.done:
		near.Close()
		far.Close()
		return nil, net.ErrClosed
	case <-ctx.Done():
		near.Close()
		far.Close()
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "replica-builder" }
