// Package client is the sync loop of one replica: it pushes the change
// journal to the sync server, pulls the server's log (a snapshot first on
// a fresh device), applies remote changes with the merge rule, and keeps a
// Status the worker shows to the page.
//
// Network I/O runs on the client's own goroutine; every database access
// goes through Local.Do, which the worker runs on the goroutine that owns
// the connection. Writes are local and never wait for the network: the
// worker only tells the client, with Notify, that a commit touched synced
// tables.
//
// Failures are classified (offline, timeout, auth, schema, server,
// protocol, local) and retried with exponential backoff and full jitter;
// an Online signal resets the backoff. A push is idempotent by (client id,
// seq) and journal entries are only settled by the server's
// acknowledgment, so no change is lost or applied twice across retries,
// reconnects and server restarts.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearthdb/hearth/syncworker/backoff"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
)

// DefaultKeepLost keeps lost values for 30 days: longer than a device
// usually stays offline, so a surprise found on return can be explained.
const DefaultKeepLost = 30 * 24 * time.Hour

// Config configures a Client. URL, Local and Journal are required; the
// rest has defaults.
type Config struct {
	// URL is the server's sync endpoint, e.g. ws://127.0.0.1:8080/sync.
	URL string
	// Local runs functions on the database connection's goroutine.
	Local Local
	// Journal is the connection's change journal (journal.Prepare and
	// Install, run by the worker when it opens the database).
	Journal *journal.Journal
	// Dial opens the connection; nil means DialWebSocket.
	Dial Dialer
	// Preconnected, when set, is a connection dialled before the client
	// existed (Preconnect): the first session uses it instead of dialling
	// if it opened. The client closes it if it does not use it.
	Preconnected *Preconnection
	// Token, when set, is called before each connection attempt; its
	// token goes in the URL's token query parameter (browsers cannot set
	// headers on a WebSocket). When the server refuses it (HTTP 401,
	// AUTH_EXPIRED) sync pauses in syncstatus.StatePausedAuth until TokenChanged.
	// When the server refuses the replica's client id as another
	// principal's (CLIENT_TAKEN), sync pauses in
	// syncstatus.StatePausedReplica, and only TokenChanged retries.
	Token func(ctx context.Context) (string, error)

	// MinBackoff and MaxBackoff bound the retry delays (defaults 500ms
	// and 1 minute). A schema mismatch retries every MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds the wait for any answer (default 15s).
	RequestTimeout time.Duration
	// PingInterval is how long a quiet connection waits before checking
	// that the server is still there (default 20s).
	PingInterval time.Duration
	// RetryInterval is how often a connected client re-checks the
	// journal even when no write notified it (default 5s).
	RetryInterval time.Duration
	// Scopes, when not nil, subscribes to these scopes only, of those
	// the server grants the identity (see PROTOCOL.md, Scopes); nil
	// syncs every granted scope.
	Scopes []string
	// ChecksumInterval is how often to compare table checksums with the
	// server (default 5 minutes; negative disables).
	ChecksumInterval time.Duration
	// PushBatch and PushBytes bound one push (defaults 500 entries and
	// 1 MiB of values).
	PushBatch, PushBytes int
	// SnapshotChunk is the number of rows per initial-sync chunk
	// (default 1000). Each chunk is applied in its own transaction.
	SnapshotChunk int
	// DeferIndexesFrom is the snapshot size, in rows, from which the
	// synced tables' plain indexes are dropped while it is applied and
	// built once at its end (deferindex.go); 0 means
	// DefaultDeferIndexesFrom, negative never.
	DeferIndexesFrom int
	// Replica says how the database began (the worker's open, which
	// may have copied in a replica file the server built); the client
	// only reports it in its Status.
	Replica syncstatus.Replica
	// KeepLost is how long values that lost a merge here stay readable
	// (db.history); default DefaultKeepLost.
	KeepLost time.Duration
	// KeepAcknowledged is how many acknowledged journal entries stay
	// queryable before they are pruned (default 256).
	KeepAcknowledged int

	// Now, Rand and After replace the wall clock, the jitter source and
	// the backoff timer (tests).
	Now   func() time.Time
	Rand  func() float64
	After func(time.Duration) <-chan time.Time

	// OnStatus is called whenever the status changes, mostly on the
	// client's goroutine but also on the caller's in Online. It must not
	// block and must be safe for concurrent use.
	OnStatus func(syncstatus.Status)
	// Applied is called on the connection's goroutine, inside Local.Do,
	// after remote changes were committed, with the tables they touched:
	// the worker re-runs the live queries that read them.
	Applied func(conn *sqlite3.Conn, tables []string)
}

func (cfg *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.MinBackoff, 500*time.Millisecond)
	def(&cfg.MaxBackoff, time.Minute)
	def(&cfg.RequestTimeout, 15*time.Second)
	def(&cfg.PingInterval, 20*time.Second)
	def(&cfg.RetryInterval, 5*time.Second)
	def(&cfg.ChecksumInterval, 5*time.Minute)
	if cfg.PushBatch <= 0 {
		cfg.PushBatch = 500
	}
	if cfg.PushBytes <= 0 {
		cfg.PushBytes = 1 << 20
	}
	if cfg.SnapshotChunk <= 0 {
		cfg.SnapshotChunk = 1000
	}
	if cfg.DeferIndexesFrom == 0 {
		cfg.DeferIndexesFrom = DefaultDeferIndexesFrom
	}
	if cfg.KeepLost == 0 {
		cfg.KeepLost = DefaultKeepLost
	}
	if cfg.KeepAcknowledged == 0 {
		cfg.KeepAcknowledged = 256
	}
	if cfg.Dial == nil {
		cfg.Dial = DialWebSocket
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
}

// Client is one replica's sync loop.
type Client struct {
	cfg     Config
	j       *journal.Journal
	backoff backoff.Policy

	notifyCh chan struct{}
	onlineCh chan struct{}
	schemaCh chan struct{}
	tokenCh  chan struct{}
	// schemaDirty asks the loop to re-read the schema and replay the
	// journal before its next connection.
	schemaDirty atomic.Bool
	running     atomic.Bool
	// offline is the last network signal: while set, the client keeps no
	// connection and makes no attempt (navigator.onLine=false is reliable;
	// =true only means "maybe").
	offline atomic.Bool

	mu       sync.Mutex
	notifyMu sync.Mutex
	status   syncstatus.Status
	// scopes is the subscription (nil: every granted scope), sent in each
	// hello; pendingScopes were added but their rows not pulled yet.
	scopes, pendingScopes []string
	scopesCh              chan struct{}
	// dropSession ends the current session (connecting or connected),
	// for going offline.
	dropSession context.CancelFunc

	// The fields below belong to the Run goroutine.
	loaded bool
	st     syncState
	// indexesDeferred: an unfinished snapshot dropped the synced tables'
	// plain indexes (deferindex.go); its last transaction restores them.
	indexesDeferred bool
	version         int64
	tables          []*schema.Info
	nextID          int64
	attempt         int
	maxMessage      int64
	latencySum      time.Duration
}

// New checks the configuration and returns a Client; Run starts it.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("sync client: Config.URL is required")
	}
	if cfg.Local == nil {
		return nil, errors.New("sync client: Config.Local is required")
	}
	if cfg.Journal == nil {
		return nil, errors.New("sync client: Config.Journal is required")
	}
	cfg.setDefaults()
	c := &Client{
		cfg:      cfg,
		j:        cfg.Journal,
		backoff:  backoff.Policy{Base: cfg.MinBackoff, Max: cfg.MaxBackoff},
		notifyCh: make(chan struct{}, 1),
		onlineCh: make(chan struct{}, 1),
		schemaCh: make(chan struct{}, 1),
		tokenCh:  make(chan struct{}, 1),
		scopesCh: make(chan struct{}, 1),
		scopes:   slices.Clone(cfg.Scopes),
		status:   syncstatus.Status{State: syncstatus.StateStarting, Online: true, Cursor: -1, Retries: map[syncstatus.Class]int64{}, Replica: cfg.Replica},
	}
	return c, nil
}

// AddScopes subscribes to more scopes (of those the server grants):
// the client reconnects, pulls a snapshot of just those scopes' rows, and
// from then on receives their changes. A client subscribed to every
// granted scope (Config.Scopes nil) has them already. The subscription
// lives in memory: an app that restarts passes the scopes it added in
// Config.Scopes.
func (c *Client) AddScopes(scopes ...string) {
	c.mu.Lock()
	added := false
	for _, sc := range scopes {
		if c.scopes == nil || slices.Contains(c.scopes, sc) {
			continue
		}
		c.scopes = append(c.scopes, sc)
		c.pendingScopes = append(c.pendingScopes, sc)
		added = true
	}
	c.mu.Unlock()
	if added {
		signal(c.scopesCh)
	}
}

// subscription returns the scopes to send in hello and those to pull.
func (c *Client) subscription() (scopes, pending []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.scopes), slices.Clone(c.pendingScopes)
}

// pulled drops scopes whose snapshot was applied from the pending ones.
func (c *Client) scopesPulled(done []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pendingScopes = slices.DeleteFunc(c.pendingScopes, func(sc string) bool { return slices.Contains(done, sc) })
}

// Notify tells the client a local commit touched synced tables, so it
// pushes now rather than at its next periodic check. It never blocks.
func (c *Client) Notify() { signal(c.notifyCh) }

// Online passes on the network signal (navigator.onLine and its events).
// Coming online resets the backoff and retries at once.
//
// Going offline ends the connection at once rather than waiting for a
// write or ping to time out: an open WebSocket can outlive the network
// for minutes, and a device told it is offline should say so.
func (c *Client) Online(online bool) {
	c.offline.Store(!online)
	c.update(func(s *syncstatus.Status) { s.Online = online })
	if online {
		signal(c.onlineCh)
		return
	}
	c.mu.Lock()
	drop := c.dropSession
	c.mu.Unlock()
	if drop != nil {
		drop()
	}
}

// errOffline ends or skips a session while the device is offline.
var errOffline = classified(syncstatus.ClassOffline, "the device is offline")

// SchemaChanged tells the client the app migrated its schema (after the
// worker ran journal.Install): it re-reads the schema, replays pending
// changes written under the old one, re-syncs, and resumes if sync was
// paused on a schema mismatch.
func (c *Client) SchemaChanged() {
	c.schemaDirty.Store(true)
	signal(c.schemaCh)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of the sync status.
func (c *Client) Status() syncstatus.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.Clone()
}

func (c *Client) update(fn func(*syncstatus.Status)) {
	// Held across the callback so that statuses reach OnStatus in the
	// order they were made: the Run goroutine and Online (the worker's
	// event callback) both update, and a subscriber keeps the last one.
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	c.mu.Lock()
	fn(&c.status)
	var snapshot syncstatus.Status
	notify := c.cfg.OnStatus != nil
	if notify {
		snapshot = c.status.Clone()
	}
	c.mu.Unlock()
	if notify {
		c.cfg.OnStatus(snapshot)
	}
}

// errReconnect ends a session that must start over without backing off
// (the schema changed under it, the clock moved, or the welcome named
// another server than the one it subscribed to with its hello).
var errReconnect = errors.New("reconnect")

// Run syncs until ctx is done, and returns ctx's error. It may be called
// once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("sync client: Run called twice")
	}
	defer c.update(func(s *syncstatus.Status) { s.State, s.Connected = syncstatus.StateStopped, false })
	if p := c.cfg.Preconnected; p != nil {
		defer p.Close() // not taken (offline, or stopped first): released
	}
	for {
		progressed, err := c.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errReconnect) {
			continue
		}
		if err == nil {
			err = classified(syncstatus.ClassOffline, "the connection ended")
		}
		ce := Classify(err)
		if progressed {
			c.attempt = 0
		}
		delay, state := c.backoff.Delay(c.attempt, c.cfg.Rand), syncstatus.StateBackoff
		c.attempt++
		if c.offline.Load() {
			// No attempt can succeed; coming online ends the wait.
			delay, state = c.backoff.Max, syncstatus.StateOffline
		} else if ce.Class == syncstatus.ClassSchema {
			// Nothing will change until a migration here or there: check
			// back slowly, or at once when told the schema changed.
			delay, state = c.backoff.Max, syncstatus.StatePausedSchema
		}
		if ce.Class == syncstatus.ClassAuth && c.cfg.Token != nil {
			delay, state = authPause, syncstatus.StatePausedAuth
		}
		if ce.Class == syncstatus.ClassReplica {
			// The id belongs to another principal: no retry can succeed
			// under this credential (see StatePausedReplica).
			state = syncstatus.StatePausedReplica
		}
		now := c.cfg.Now()
		c.update(func(s *syncstatus.Status) {
			s.State, s.Connected = state, false
			s.Retries[ce.Class]++
			s.LastError = &syncstatus.ErrorInfo{Class: ce.Class, Code: ce.Code, Message: err.Error(), At: now}
			s.NextAttemptAt = now.Add(delay)
			if state == syncstatus.StatePausedReplica {
				s.NextAttemptAt = time.Time{}
			}
		})
		if state == syncstatus.StatePausedReplica {
			c.waitToken(ctx)
			continue
		}
		c.wait(ctx, delay)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// wait sleeps out a backoff delay. Coming online or a schema change ends
// it early; local writes only refresh the pending count, so a device
// that writes a lot offline does not hammer the server.
func (c *Client) wait(ctx context.Context, delay time.Duration) {
	timer := c.cfg.After(delay)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer:
			return
		case <-c.onlineCh:
			c.attempt = 0
			return
		case <-c.schemaCh:
			c.attempt = 0
			return
		case <-c.tokenCh:
			c.attempt = 0
			return
		case <-c.notifyCh:
			c.refreshPending(ctx)
		}
	}
}

// waitToken waits, with sync paused on a client id that belongs to
// another principal, for TokenChanged: the only event after which the
// server may accept the id (a credential of its owner). Local writes
// only refresh the pending count.
func (c *Client) waitToken(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.tokenCh:
			c.attempt = 0
			return
		case <-c.notifyCh:
			c.refreshPending(ctx)
		}
	}
}

// refreshPending updates the status's pending count from the journal.
func (c *Client) refreshPending(ctx context.Context) {
	var depth int64
	err := c.do(ctx, func(conn *sqlite3.Conn) error {
		var err error
		depth, err = journal.Depth(conn)
		return err
	})
	if err == nil {
		c.update(func(s *syncstatus.Status) { s.Pending = depth })
	}
}

// do runs fn on the connection's goroutine. While the app holds a
// transaction open it waits: the client's writes must not join it.
func (c *Client) do(ctx context.Context, fn func(conn *sqlite3.Conn) error) error {
	for {
		err := c.cfg.Local.Do(ctx, func(conn *sqlite3.Conn) error {
			if !conn.GetAutocommit() {
				return errAppTransaction
			}
			return fn(conn)
		})
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errAppTransaction):
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		default:
			var ce *Error
			if errors.As(err, &ce) {
				return err
			}
			return &Error{Class: syncstatus.ClassLocal, Err: err}
		}
	}
}

// txn is the client's turn on the connection inside inTx.
type txn struct {
	conn    *sqlite3.Conn
	tables  []*schema.Info
	applier *merge.Applier
	// kept, when set, is where the session keeps its applier between
	// turns (inTxKeeping).
	kept **merge.Applier
	// local and now date the values that lose a merge here
	// (merge.RecordLosses).
	local string
	now   func() time.Time
	// touched collects the app tables whose rows changed.
	touched map[string]bool
}

// merger returns the transaction's merge applier: the session's kept
// one (inTxKeeping), else one that lives no longer than the turn.
func (t *txn) merger() *merge.Applier {
	if t.applier == nil && t.kept != nil {
		t.applier = *t.kept
	}
	if t.applier == nil {
		t.applier = merge.NewApplier(t.conn, t.tables, false)
		t.applier.RecordLosses(t.local, t.now)
		if t.kept != nil {
			*t.kept = t.applier
		}
	}
	return t.applier
}

// inTx runs fn in one IMMEDIATE transaction on the connection's
// goroutine; after the commit, it reports the tables fn touched to
// Config.Applied.
func (c *Client) inTx(ctx context.Context, fn func(t *txn) error) error {
	return c.inTxKeeping(ctx, nil, fn)
}

// inTxKeeping is inTx whose merge applier is kept in *kept after a turn
// that committed, for the next: its prepared statements (multi-row
// inserts of hundreds of parameters, each a parse and a plan in SQLite)
// then serve every chunk of a snapshot, not one. A failed turn closes it
// and clears *kept. The session that owns *kept closes it when it ends
// (Client.session); statements it could not close (the client stopped)
// are finalized with the connection (wasm/engine's Conn.Close).
func (c *Client) inTxKeeping(ctx context.Context, kept **merge.Applier, fn func(t *txn) error) error {
	return c.do(ctx, func(conn *sqlite3.Conn) error {
		t := &txn{conn: conn, tables: c.tables, local: c.j.Node(), now: c.cfg.Now, touched: map[string]bool{}, kept: kept}
		committed := false
		defer func() {
			if t.applier == nil || (kept != nil && committed && t.applier.Rest() == nil) {
				return
			}
			t.applier.Close()
			if kept != nil {
				*kept = nil
			}
		}()
		if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(t); err != nil {
			conn.Exec("ROLLBACK")
			return err
		}
		if err := conn.Exec("COMMIT"); err != nil {
			conn.Exec("ROLLBACK")
			return fmt.Errorf("commit: %w", err)
		}
		committed = true
		if c.cfg.Applied != nil && len(t.touched) > 0 {
			tables := make([]string, 0, len(t.touched))
			for name := range t.touched {
				tables = append(tables, name)
			}
			sort.Strings(tables)
			c.cfg.Applied(conn, tables)
		}
		return nil
	})
}

// load reads the sync state, the schema and the journal depth, and
// replays the journal after a schema change. It runs before the first
// connection and after SchemaChanged.
func (c *Client) load(ctx context.Context) error {
	dirty := c.schemaDirty.Swap(false)
	if c.loaded && !dirty {
		return nil
	}
	var depth int64
	var quarantined int
	err := c.do(ctx, func(conn *sqlite3.Conn) error {
		st, err := loadState(conn)
		if err != nil {
			return err
		}
		if dirty && st.Snap.Active {
			// Chunks applied so far skipped columns the new schema has:
			// start the snapshot over.
			restart := st
			restart.Snap = snapshotState{Active: true, At: -1}
			if err := saveState(conn, st, restart); err != nil {
				return err
			}
			st = restart
		}
		version, err := schema.Version(conn)
		if err != nil {
			return err
		}
		tables, err := schema.DescribeAll(conn, c.j.Tables())
		if err != nil {
			return err
		}
		deferred, err := hasDeferredIndexes(conn)
		if err != nil {
			return err
		}
		if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if deferred && !st.Snap.Active {
			// The snapshot that dropped them ended some other way.
			if _, err := restoreIndexes(conn); err != nil {
				conn.Exec("ROLLBACK")
				return fmt.Errorf("restore the indexes an initial sync deferred: %w", err)
			}
			deferred = false
		}
		quarantined, err = c.j.Replay(conn)
		if err != nil {
			conn.Exec("ROLLBACK")
			return err
		}
		if err := conn.Exec("COMMIT"); err != nil {
			conn.Exec("ROLLBACK")
			return fmt.Errorf("commit: %w", err)
		}
		if depth, err = journal.Depth(conn); err != nil {
			return err
		}
		c.st, c.version, c.tables, c.indexesDeferred = st, version, tables, deferred
		return nil
	})
	if err != nil {
		c.schemaDirty.Store(c.schemaDirty.Load() || dirty)
		return fmt.Errorf("load sync state: %w", err)
	}
	c.loaded = true
	c.update(func(s *syncstatus.Status) {
		s.Pending, s.Cursor, s.SchemaVersion = depth, c.st.Cursor, c.version
		s.Quarantined += int64(quarantined)
		s.InitialSync = syncstatus.Progress{Active: c.st.Snap.Active, Rows: c.st.Snap.Rows, Total: c.st.Snap.Total}
	})
	return nil
}
