// Package syncserver is Hearth's sync server: clients connect over a
// WebSocket (see PROTOCOL.md), push their change journals and receive the
// server log live. The server validates each change, merges it into its
// store with the same merge code the clients run, orders it in the log,
// acknowledges it by log position and fans it out to every connected
// client.
//
// Mount Server (an http.Handler) at the sync endpoint, e.g. /sync.
package syncserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncserver/sqlitestore"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/wire"
	"golang.org/x/sync/semaphore"
)

// Config configures a Server.
type Config struct {
	// Store holds the server's data; nil opens the default SQLite store
	// at Path. The server closes it on Close.
	Store store.Store
	// Path is the SQLite database file of the default store; "" keeps
	// the data in memory (tests, demos). Ignored when Store is set.
	Path string
	// Migrations are the app's schema steps, the same the clients run.
	Migrations []appschema.Migration
	// Tables are the synced tables.
	Tables []appschema.Table
	// MinSchemaVersion is the oldest client schema version accepted
	// (default: the first migration's). Clients newer than the newest
	// migration are refused too: they may send columns this server
	// does not have.
	MinSchemaVersion int64

	// Authenticate identifies the client from the WebSocket upgrade
	// request (cookie, header, query token); an error answers 401. Nil
	// accepts everyone.
	//
	// A client id is bound to the first non-empty principal that says
	// hello with it (the store keeps the binding): another principal's
	// hello with it gets CLIENT_TAKEN. The principal must therefore be
	// stable for a user across token refreshes. Without Authenticate or
	// Identify (or with an empty principal) nothing is bound: the server
	// trusts every client with every client id.
	Authenticate func(r *http.Request) (principal string, err error)
	// Identify, when set, replaces Authenticate with an identity that
	// may expire (a JWT's exp, see syncserver/auth): the server ends the
	// session then with AUTH_EXPIRED, and the client reconnects with a
	// fresh token.
	Identify func(r *http.Request) (Identity, error)
	// Authorize may refuse a change before it is applied (e.g. a user
	// writing another user's rows); the client rolls the row back.
	Authorize func(ctx context.Context, principal string, ch Change) error
	// Scopes names, per synced table, the column holding a row's scope:
	// e.g. {"tasks": "workspace_id", "workspaces": "id"}. A connection
	// receives only rows of the scopes it reads (log, snapshots) and may
	// write only rows of the scopes it writes, before and after the
	// change (else FORBIDDEN). See PROTOCOL.md, Scopes.
	Scopes map[string]string
	// Grants maps an identity to the scopes it reads and writes; nil
	// grants both Identity.Scopes (a JWT's ws claim), taken literally.
	// AllScopes ("*") returned here grants every scope.
	Grants func(id Identity) (read, write []string)
	// TableAccess decides access to synced tables without a scope rule;
	// nil lets every authenticated user read and write them.
	TableAccess func(id Identity, table string) (read, write bool)
	// TableRules, when not nil, decide access to the synced tables
	// without a scope rule instead of TableAccess, table by table and,
	// for owner rules, row by row. A table without a rule is neither
	// read nor written (default deny), except by an identity Grants
	// gives every scope (AllScopes) to read or write.
	TableRules map[string]TableRule
	// Invariants check each change after it is applied. A violation does
	// not reject the change: it is stored, flagged, and recorded as a
	// _hearth_violations row that syncs to every client.
	Invariants []Invariant
	// SQLInvariants are invariants written in SQL (see SQLInvariant),
	// checked against the schema when the server starts and run after
	// Invariants.
	SQLInvariants []SQLInvariant

	// MaxMessageBytes bounds one client message (default 4 MiB).
	MaxMessageBytes int64
	// MaxPushBatch bounds the changes in one push (default 1000;
	// advertised in welcome): a larger push gets BATCH_TOO_LARGE and the
	// client sends smaller ones.
	MaxPushBatch int
	// PushRate bounds the changes each principal pushes per second (all
	// its connections together; each anonymous connection alone), as
	// a token bucket holding PushBurst changes (defaults 1000/s and
	// 10000, the burst at least MaxPushBatch; a negative PushRate
	// disables the limit). A push over it gets RATE_LIMITED with the
	// wait after which it fits.
	PushRate  float64
	PushBurst int
	// SnapshotRate bounds the snapshot rows each principal reads per
	// second (all its connections together; each anonymous connection
	// alone), as a token bucket holding SnapshotBurst rows (defaults
	// 50,000/s and 250,000, the burst at least MaxSnapshotChunk; a
	// negative SnapshotRate disables the limit). A snapshot request costs
	// the rows it asks for (at most MaxSnapshotChunk), whatever it
	// finds: reading a chunk also counts the rows in view. A scoped
	// snapshot (a subscription change) draws on the same bucket. Over it,
	// the request gets RATE_LIMITED with the wait after which it fits;
	// the connection stays up.
	SnapshotRate  float64
	SnapshotBurst int
	// ChecksumInterval is the time each principal's checksum requests
	// are spaced by on average, ChecksumBurst how many may come at once
	// (defaults 10s and 8; a negative ChecksumInterval disables the
	// limit): computing checksums reads every row. Clients ask every
	// few minutes. Over it, the request gets RATE_LIMITED.
	ChecksumInterval time.Duration
	ChecksumBurst    int
	// MaxClockSkew refuses changes stamped further than this ahead of
	// the server's wall clock, with CLOCK_SKEW (default 5 minutes;
	// negative disables): a change stamped ahead wins every conflict
	// until real time catches up, and would drag the server's clock, and
	// every replica's, along. The server's own clock never moves past
	// its wall time plus this bound, whatever it observes. Honest devices
	// with a wrong clock are not refused: the server tells its time and
	// the bound in welcome, and clients stamp in the server's time (see
	// PROTOCOL.md, Clocks).
	MaxClockSkew time.Duration
	// LogBatch is the most log entries per message (default 500).
	LogBatch int
	// MaxSendBytes bounds the bytes of changes in one message the server
	// sends (log batches, snapshot chunks; default 16 MiB, well below
	// the 64 MiB a client reads). A single change heavier than that is
	// still sent, alone.
	MaxSendBytes int
	// MaxValueBytes and MaxChangeBytes bound one pushed value and one
	// pushed change (defaults 1 MiB and 2 MiB): heavier changes are
	// refused with TOO_LARGE, so that no row can outgrow what a frame
	// carries.
	MaxValueBytes, MaxChangeBytes int
	// MaxRowBytes bounds what one stored row weighs as snapshots ship it
	// (default 4 MiB; negative disables): a row grows change by change,
	// column by column, past what any one change may carry, and a row is
	// sent whole in one frame. A pushed change (a device's or a backend
	// write's) that would make its row heavier than this, and heavier
	// than it is, is refused with ROW_TOO_LARGE.
	MaxRowBytes int
	// MaxPrincipalBytes bounds what the rows each authenticated principal
	// last wrote weigh in all, live rows only (default 1 GiB; negative
	// disables; anonymous pushes and backend writes are not bounded). A
	// device's change that would add to a principal's usage past it is
	// refused with QUOTA_EXCEEDED; deletes, and changes that do not make
	// its rows heavier, always go through. See SECURITY.md, Storage.
	MaxPrincipalBytes int64
	// TextCompactTombstones compacts a collaborative text field once a
	// push leaves it holding this many deleted characters (default 1024;
	// negative disables): every client rebases its copy onto the field's
	// next epoch, which holds none (collabtext.Compact), and ops made
	// before are translated as they arrive, through the field's last
	// store.TextEpochsKept epochs.
	TextCompactTombstones int
	// MaxSnapshotChunk caps the rows of one snapshot chunk (default
	// 5000).
	MaxSnapshotChunk int
	// CompactInterval, when positive, compacts the log that often,
	// keeping the newest CompactKeep entries (default 100,000): older
	// entries are dropped (the rows hold their effect), and a client whose
	// cursor is older gets the current state instead, as a snapshot
	// streamed in its log messages.
	CompactInterval time.Duration
	CompactKeep     int64
	// WriteTimeout bounds sending one message (default 10s); a client
	// that does not read is disconnected.
	WriteTimeout time.Duration
	// MaxConnections bounds the sync connections the server holds
	// (default 10,000), MaxConnectionsPerPrincipal those of one
	// authenticated principal (default 64): more are refused at the
	// upgrade with TOO_MANY_CONNECTIONS (HTTP 503 and 429), so that one
	// user cannot take the memory every connection costs.
	MaxConnections, MaxConnectionsPerPrincipal int
	// MaxDecodeBytes bounds the memory that decoded client messages hold
	// at once, all connections together (default 512 MiB); reading waits
	// for room. A message is counted at 16 times its size, the most a
	// frame decodes to.
	MaxDecodeBytes int64
	// HelloTimeout is how long a new connection may take to send its
	// hello (default 10s) before it is closed.
	HelloTimeout time.Duration
	// QuietCursorDelay is how long a caught-up connection whose client may
	// read none of the log's new entries (another workspace's writes: rows
	// its scopes or read rules leave out) waits, from the first of them,
	// before the server tells it that its cursor moved past them (default
	// 2s; negative: at once, a message for every write); an entry it may
	// read tells it sooner. Until then the client neither hears of those
	// writes nor needs to: it was caught up and still is. Without the wait
	// every write to the log was a message to every connection.
	QuietCursorDelay time.Duration
	// OriginPatterns are the cross-origin hosts allowed to connect from
	// a browser (see websocket.AcceptOptions); same-origin always is.
	OriginPatterns []string
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// Now is the wall clock (tests); nil means time.Now.
	Now func() time.Time
}

// Server is a sync server.
type Server struct {
	cfg    Config
	store  store.Store
	info   store.Info
	clock  *hlc.Clock
	node   string
	log    *slog.Logger
	minVer int64
	head   headSignal
	// metrics has the server's own Prometheus registry.
	metrics *metrics
	// decoding is the budget of memory decoded messages hold.
	decoding *semaphore.Weighted
	// pushRates, snapshotRates and checksumRates are the principals'
	// buckets of pushed changes, snapshot rows and checksum requests.
	pushRates, snapshotRates, checksumRates *principalRates
	// tail caches the newest log entries for the live sessions.
	tail *logTail
	// scopes are Config.Scopes checked against the tables.
	scopes *store.ScopeRules
	// writes is what backend writes need (write.go).
	writes writeState
	// invariants are Config.Invariants and the compiled SQLInvariants.
	invariants []Invariant
	// owners are the TableRules' owner columns checked against the
	// tables, with each table's key columns.
	owners map[string]ownerRule

	mu    sync.Mutex
	conns map[*session]struct{}
	// open counts the connections taken (upgrading or serving), in all
	// and per principal, for the connection caps.
	open     int
	openBy   map[string]int
	closing  bool
	shutdown chan struct{}
	wg       sync.WaitGroup
}

// New opens the store, brings it to the app's schema and returns a
// server ready to serve.
func New(cfg Config) (*Server, error) {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 4 << 20
	}
	if cfg.MaxPushBatch <= 0 {
		cfg.MaxPushBatch = 1000
	}
	if cfg.PushRate == 0 {
		cfg.PushRate = 1000
	}
	if cfg.PushBurst <= 0 {
		cfg.PushBurst = 10000
	}
	cfg.PushBurst = max(cfg.PushBurst, cfg.MaxPushBatch)
	if cfg.ChecksumInterval == 0 {
		cfg.ChecksumInterval = 10 * time.Second
	}
	if cfg.ChecksumBurst <= 0 {
		cfg.ChecksumBurst = 8
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.LogBatch <= 0 {
		cfg.LogBatch = 500
	}
	if cfg.MaxSendBytes <= 0 {
		cfg.MaxSendBytes = defaultMaxSendBytes
	}
	if cfg.MaxValueBytes <= 0 {
		cfg.MaxValueBytes = defaultMaxValueBytes
	}
	if cfg.MaxChangeBytes <= 0 {
		cfg.MaxChangeBytes = defaultMaxChangeBytes
	}
	if cfg.MaxRowBytes == 0 {
		cfg.MaxRowBytes = defaultMaxRowBytes
	}
	if cfg.MaxPrincipalBytes == 0 {
		cfg.MaxPrincipalBytes = defaultMaxPrincipalBytes
	}
	if cfg.TextCompactTombstones == 0 {
		cfg.TextCompactTombstones = defaultTextCompactTombstones
	}
	if cfg.MaxSnapshotChunk <= 0 {
		cfg.MaxSnapshotChunk = 5000
	}
	if cfg.SnapshotRate == 0 {
		cfg.SnapshotRate = 50_000
	}
	if cfg.SnapshotBurst <= 0 {
		cfg.SnapshotBurst = 250_000
	}
	cfg.SnapshotBurst = max(cfg.SnapshotBurst, cfg.MaxSnapshotChunk)
	if cfg.CompactKeep <= 0 {
		cfg.CompactKeep = 100_000
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 10_000
	}
	if cfg.MaxConnectionsPerPrincipal <= 0 {
		cfg.MaxConnectionsPerPrincipal = 64
	}
	if cfg.MaxDecodeBytes <= 0 {
		cfg.MaxDecodeBytes = 512 << 20
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.QuietCursorDelay == 0 {
		cfg.QuietCursorDelay = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st := cfg.Store
	if st == nil {
		var err error
		if st, err = sqlitestore.Open(cfg.Path); err != nil {
			return nil, fmt.Errorf("syncserver: %w", err)
		}
	}
	info, err := st.Open(context.Background(), store.Schema{Migrations: cfg.Migrations, Tables: cfg.Tables, Scopes: cfg.Scopes})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("syncserver: open store: %w", err)
	}
	scopes, err := store.NewScopeRules(cfg.Scopes, info.Tables)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("syncserver: %w", err)
	}
	invariants := slices.Clone(cfg.Invariants)
	for _, inv := range cfg.SQLInvariants {
		c, err := inv.Compile(info.Tables, cfg.Scopes)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("syncserver: %w", err)
		}
		invariants = append(invariants, c.Invariant())
	}
	owners, err := ownerRules(cfg.TableRules, info.Tables, scopes)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("syncserver: %w", err)
	}
	minVer := cfg.MinSchemaVersion
	if minVer == 0 && len(cfg.Migrations) > 0 {
		minVer = cfg.Migrations[0].Version
	}
	if minVer > info.Version {
		st.Close()
		return nil, fmt.Errorf("syncserver: MinSchemaVersion %d is newer than the schema (%d)", minVer, info.Version)
	}
	s := &Server{
		cfg:      cfg,
		store:    st,
		info:     info,
		clock:    hlc.NewClock(cfg.Now),
		node:     "server-" + info.ID,
		log:      logger,
		minVer:   minVer,
		conns:    map[*session]struct{}{},
		openBy:   map[string]int{},
		shutdown: make(chan struct{}),
		scopes:   scopes,

		invariants: invariants,
		owners:     owners,
	}
	s.head.init(info.Head)
	s.metrics = newMetrics(s)
	s.decoding = semaphore.NewWeighted(cfg.MaxDecodeBytes)
	s.pushRates = newPrincipalRates(cfg.PushRate, cfg.PushBurst, cfg.Now)
	s.snapshotRates = newPrincipalRates(cfg.SnapshotRate, cfg.SnapshotBurst, cfg.Now)
	if cfg.ChecksumInterval > 0 {
		s.checksumRates = newPrincipalRates(float64(time.Second)/float64(cfg.ChecksumInterval), cfg.ChecksumBurst, cfg.Now)
	}
	s.tail = newLogTail(info.Head, tailBatches*cfg.LogBatch, tailBytes)
	// A shared store (PostgreSQL) also moves with other instances' pushes.
	if w, ok := st.(store.HeadWatcher); ok {
		if err := w.WatchHead(context.Background(), s.head.advance); err != nil {
			logger.Warn("sync: watching the shared log head failed; retrying", "err", err)
		}
	}
	if x, ok := st.(store.ExternalWriter); ok {
		s.wg.Add(1)
		go s.ingestExternalWrites(x)
	}
	if cfg.CompactInterval > 0 {
		s.wg.Add(1)
		go s.compactPeriodically()
	}
	return s, nil
}

// Compact drops the log entries up to position before (see
// store.Store.Compact) and returns the log's floor.
func (s *Server) Compact(ctx context.Context, before int64) (int64, error) {
	floor, err := s.store.Compact(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("syncserver: %w", err)
	}
	return floor, nil
}

func (s *Server) compactPeriodically() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.CompactInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.shutdown:
			return
		case <-tick.C:
		}
		head, _ := s.head.get()
		if head <= s.cfg.CompactKeep {
			continue
		}
		// A compaction may take one interval, and at least a minute: a
		// bound below what a busy store needs would cancel every attempt
		// and the log would never shrink.
		ctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.CompactInterval, time.Minute))
		floor, err := s.Compact(ctx, head-s.cfg.CompactKeep)
		cancel()
		if err != nil {
			s.log.Warn("sync: compacting the log failed", "err", err)
			continue
		}
		s.log.Info("sync: log compacted", "floor", floor, "head", head)
	}
}

// Handler is the server as an http.Handler, to mount at the sync
// endpoint (e.g. mux.Handle("/sync", srv.Handler())).
func (s *Server) Handler() http.Handler { return s }

// Info describes the store the server runs on, as it was when the server
// started.
func (s *Server) Info() store.Info { return s.info }

// enter counts a request that Shutdown waits for (the caller calls
// s.wg.Done when it ends); false once the server is shutting down.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// ServeHTTP accepts a sync connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		s.metrics.countError(errUpgrade, wire.CodeShuttingDown)
		http.Error(w, "SHUTTING_DOWN: the sync server is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	id, err := s.identify(r)
	if err != nil {
		s.metrics.countError(errUpgrade, wire.CodeUnauthorized)
		s.log.Info("sync: authentication failed", "remote", r.RemoteAddr, "code", wire.CodeUnauthorized, "err", err)
		// The reason stays in the log: telling the caller which check
		// failed (signature, audience, expiry) helps an attacker more
		// than an honest client, which renews its token either way.
		http.Error(w, "UNAUTHORIZED: the credential is missing, invalid or expired", http.StatusUnauthorized)
		return
	}
	if code, status := s.takeConnection(id.Principal); code != "" {
		s.metrics.countError(errUpgrade, code)
		s.log.Info("sync: connection refused", "remote", r.RemoteAddr, "principal", id.Principal, "code", code)
		http.Error(w, code+": too many sync connections; retry later", status)
		return
	}
	defer s.releaseConnection(id.Principal)
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "BAD_REQUEST: the sync endpoint speaks WebSocket (see PROTOCOL.md)", http.StatusUpgradeRequired)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{wire.Subprotocol},
		OriginPatterns: s.cfg.OriginPatterns,
	})
	if err != nil {
		s.log.Info("sync: websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The hard limit only stops a runaway frame; frames between
	// MaxMessageBytes and it get a TOO_LARGE error and the session goes on.
	ws.SetReadLimit(2*s.cfg.MaxMessageBytes + 64<<10)
	sess := newSession(s, ws, id, r.RemoteAddr)
	s.mu.Lock()
	s.conns[sess] = struct{}{}
	s.mu.Unlock()
	s.metrics.connections.Inc()
	s.metrics.connected.Inc()
	sess.serve()
	s.metrics.connected.Dec()
	s.mu.Lock()
	delete(s.conns, sess)
	s.mu.Unlock()
	sess.logClosed()
}

// decodeAmplification is the most a frame grows by when decoded (an
// array of nulls: 16 bytes of interface per 1-byte element; a real push
// measured 8x).
const decodeAmplification = 16

// decodeWeight is what decoding a frame of n bytes may take of the
// decoding budget: never more than all of it, so that any frame the size
// limit admits can be decoded.
func (s *Server) decodeWeight(n int) int64 {
	return min(int64(n)*decodeAmplification, s.cfg.MaxDecodeBytes)
}

// takeConnection counts a new connection against the caps, or returns
// the code and HTTP status refusing it.
func (s *Server) takeConnection(principal string) (code string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.cfg.MaxConnections {
		return wire.CodeTooManyConnections, http.StatusServiceUnavailable
	}
	if principal != "" && s.openBy[principal] >= s.cfg.MaxConnectionsPerPrincipal {
		return wire.CodeTooManyConnections, http.StatusTooManyRequests
	}
	s.open++
	if principal != "" {
		s.openBy[principal]++
	}
	return "", 0
}

func (s *Server) releaseConnection(principal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if principal != "" {
		if s.openBy[principal]--; s.openBy[principal] == 0 {
			delete(s.openBy, principal)
		}
	}
}

// Shutdown stops accepting connections, lets every session finish the
// message it is handling and closes it with "going away", waits for them
// (until ctx is done, then cuts them off), and closes the store. Calls
// after the first do nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	close(s.shutdown)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("syncserver: shutdown: %w", ctx.Err())
		s.mu.Lock()
		for sess := range s.conns {
			sess.ws.CloseNow()
		}
		s.mu.Unlock()
		<-done // sessions end once their connection is gone
	}
	s.writes.close()
	if cerr := s.store.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("syncserver: close store: %w", cerr)
	}
	return err
}

// Head is the last log position this server knows of (with a shared
// store, as the store last announced it).
func (s *Server) Head() int64 {
	head, _ := s.head.get()
	return head
}

// TakeSnapshotRows charges rows read outside a session (a replica file
// sent as it was kept) to the principal's snapshot bucket
// (Config.SnapshotRate), if they fit in it now; more than the bucket
// holds at most is charged as a full bucket. Reports whether it did.
func (s *Server) TakeSnapshotRows(principal string, rows int64) bool {
	b := s.snapshotRates.bucket(principal)
	if b == nil {
		return true
	}
	return b.AllowN(s.cfg.Now(), int(min(max(rows, 1), int64(b.Burst()))))
}

// Close shuts down with a 10 second drain.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// headSignal publishes the log head to the sessions: each waits on the
// channel, which is closed and replaced whenever the head moves.
type headSignal struct {
	mu      sync.Mutex
	head    int64
	changed chan struct{}
}

func (h *headSignal) init(head int64) {
	h.head, h.changed = head, make(chan struct{})
}

// get returns the head and a channel closed when it next moves.
func (h *headSignal) get() (int64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head, h.changed
}

func (h *headSignal) advance(head int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if head > h.head {
		h.head = head
		close(h.changed)
		h.changed = make(chan struct{})
	}
}
