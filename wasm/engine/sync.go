package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	syncclient "github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
)

// SyncOptions is the open request's "sync" field: where the sync server
// is and which tables replicate.
type SyncOptions struct {
	URL    string
	Tables []appschema.Table
	// Token, when set, is passed to the server as the token query
	// parameter (a browser WebSocket cannot send headers); setSyncToken
	// replaces it.
	Token string
	// KeepIndexes keeps the synced tables' indexes through a large
	// initial sync (the page's deferIndexes: false), for an app whose
	// queries on partly synced data cannot do without them; by default
	// they are built once, at its end (syncclient.Config.DeferIndexesFrom).
	KeepIndexes bool
	// ReplicaOff (the page's replica: false) makes a new database sync by
	// snapshot even when the server builds replica files; ReplicaURL (the
	// page's replica: "https://…") names the endpoint when it is not the
	// sync URL's …/v1/replica.
	ReplicaOff bool
	ReplicaURL string
}

// preconnect starts connecting to the sync server of a database that is
// opening (nil when it has no sync or the page is offline): a first
// visit's handshakes (TCP, TLS, WebSocket) then overlap the open instead
// of following it. The token is the open request's: the app cannot
// replace it before the open returns.
func (e *Engine) preconnect(o *SyncOptions) *syncclient.Preconnection {
	if o == nil || !e.online.Load() {
		return nil
	}
	token := o.Token
	return syncclient.Preconnect(syncclient.Config{
		URL:   o.URL,
		Token: func(context.Context) (string, error) { return token, nil },
	})
}

// parseSyncOptions reads {url, tables: [name | {name, resurrect, text}],
// token?, deferIndexes?, replica?}.
func parseSyncOptions(v any) (*SyncOptions, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sync must be a map {url, tables}, got %s", codec.TypeName(v))
	}
	o := &SyncOptions{}
	o.URL, _ = m["url"].(string)
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.url must be a ws:// or wss:// URL, got %q", o.URL)
	}
	switch t := m["token"].(type) {
	case nil:
	case string:
		o.Token = t
	default:
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.token must be text, got %s", codec.TypeName(t))
	}
	switch d := m["deferIndexes"].(type) {
	case nil:
	case bool:
		o.KeepIndexes = !d
	default:
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.deferIndexes must be true or false, got %s", codec.TypeName(d))
	}
	switch r := m["replica"].(type) {
	case nil:
	case bool:
		o.ReplicaOff = !r
	case string:
		if u, err := url.Parse(r); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.replica must be true, false or an http(s) URL, got %q", r)
		}
		o.ReplicaURL = r
	default:
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.replica must be true, false or an http(s) URL, got %s", codec.TypeName(r))
	}
	list, ok := m["tables"].([]any)
	if !ok || len(list) == 0 {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.tables must list the synced tables, got %s", codec.TypeName(m["tables"]))
	}
	for i, item := range list {
		var t appschema.Table
		switch x := item.(type) {
		case string:
			t.Name = x
		case map[string]any:
			t.Name, _ = x["name"].(string)
			t.Resurrect, _ = x["resurrect"].(bool)
			if cols, ok := x["text"].([]any); ok {
				for _, c := range cols {
					name, ok := c.(string)
					if !ok || name == "" {
						return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.tables[%d].text must list column names, got %v", i, x["text"])
					}
					t.Text = append(t.Text, name)
				}
			}
		}
		if t.Name == "" || strings.HasPrefix(strings.ToLower(t.Name), schema.ReservedPrefix) {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "sync.tables[%d] must name an app table (text or {name, resurrect, text}), got %v", i, item)
		}
		o.Tables = append(o.Tables, t)
	}
	return o, nil
}

// dbSync is the sync engine of one open database: its journal, its client
// loop (running on its own goroutine, touching the connection only through
// ownerLocal) and the page's status subscriptions.
type dbSync struct {
	journal *journal.Journal
	client  *syncclient.Client
	stop    context.CancelFunc
	done    chan struct{}

	mu   sync.Mutex
	subs map[int64]struct{}
	// token is the bearer token the next connection presents; the app
	// replaces it (setSyncToken) when it expires.
	token string

	// The statuses sent to the page (publish): the window's length
	// (statusEvery), the window open since the last one sent (nil: none,
	// the next goes at once) and the newest one made during it, sent when
	// it ends.
	pubEvery  time.Duration
	pubMu     sync.Mutex
	pubWindow *time.Timer
	pubGen    uint64 // counts windows: a timer ends only its own
	pubNext   *syncstatus.Status
	// The last status sent, and whether one sent since the connection
	// opened was caught up (milestone).
	pubLast     syncstatus.Status
	pubCaughtUp bool
}

// statusEvery is the least time between two sync statuses sent to the
// page. A write goes through several in a few milliseconds (pending, sent,
// acknowledged, the cursor past it), each a message the page decodes and
// most apps draw: the first is sent at once, the newest of the rest when
// the window ends, so a burst of writes costs the page a message or two
// per window rather than several per write (on a 2-core machine
// they competed with the frames of the next interaction:
// e2e/bench/board-inp-trace.mjs).
const statusEvery = 50 * time.Millisecond

func (s *dbSync) currentToken(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, nil
}

// syncStopTimeout bounds how long closing a database waits for the sync
// loop to let go (it is blocked on the network at worst).
const syncStopTimeout = 5 * time.Second

// prepareSync creates Hearth's journal tables and functions before the
// app's migrations run (the triggers need the functions; a migration that
// alters a synced table needs the old triggers gone, so they stay only
// when no migration is to run).
func prepareSync(c *Conn, o *SyncOptions, migrating bool) (*journal.Journal, error) {
	j, err := journal.Prepare(c.db, journal.Config{Clock: hlc.NewClock(nil), Tables: o.Tables, KeepTriggers: !migrating})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sync: %v", err)
	}
	// The journal's statements run on every push and acknowledgement of
	// this connection's life: kept prepared until it closes.
	if c.releaseJournal == nil {
		c.releaseJournal = journal.KeepStatements(c.db)
	}
	return j, nil
}

// startSync installs the journal triggers for the migrated schema and
// starts the client loop.
func (e *Engine) startSync(db *database, owner *dbOwner, o *SyncOptions, j *journal.Journal, pre *syncclient.Preconnection, began syncstatus.Replica) error {
	if err := j.Install(db.conn.db); err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "sync: %v", err)
	}
	s := &dbSync{journal: j, done: make(chan struct{}), subs: map[int64]struct{}{}, token: o.Token, pubEvery: statusEvery}
	cfg := syncclient.Config{
		URL:     o.URL,
		Local:   ownerLocal{owner},
		Journal: j,
		OnStatus: func(st syncstatus.Status) {
			s.publish(e, st)
		},
		Applied: func(_ *sqlite3.Conn, tables []string) {
			db.conn.markWritten(tables)
		},
		// Asked on every connection, so a token set later (setSyncToken)
		// is used; with none, a server that requires one refuses the
		// connection and sync waits in paused-auth until the app sets it.
		Token:        s.currentToken,
		Preconnected: pre, // the client closes it if it does not use it
		Replica:      began,
	}
	if o.KeepIndexes {
		cfg.DeferIndexesFrom = -1
	}
	client, err := syncclient.New(cfg)
	if err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "sync: %v", err)
	}
	s.client = client
	if !e.online.Load() {
		client.Online(false)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.done)
		client.Run(ctx)
		s.flushStatus(e)
	}()
	db.sync = s
	e.mu.Lock()
	owner.sync = s
	e.mu.Unlock()
	return nil
}

// close ends the client loop before the connection closes. Turns the loop
// asked for are abandoned: their Do returns once ctx is cancelled, and
// the owner refuses new ones (requestQueue.refuseCalls). It reports
// whether the loop stopped before syncStopTimeout.
func (s *dbSync) close() bool {
	s.stop()
	select {
	case <-s.done:
		return true
	case <-time.After(syncStopTimeout):
		return false
	}
}

// stopSync stops the database's sync client as the database closes: the
// owner refuses it turns from now on, and a stop that timed out is
// counted (Engine.syncStopTimeouts).
func (e *Engine) stopSync(db *database) {
	db.owner.queue.refuseCalls()
	if db.sync != nil && !db.sync.close() {
		e.syncStopTimeouts.Add(1)
	}
}

// publish sends a status to every subscription: at once when no status
// went in the last statusEvery or when it is a milestone, else as the
// newest of the window when it ends.
func (s *dbSync) publish(e *Engine, st syncstatus.Status) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if s.pubWindow != nil && !s.milestone(st) {
		s.pubNext = &st
		return
	}
	if s.pubWindow != nil {
		// It replaces whatever the window held: it is newer.
		s.pubWindow.Stop()
		s.pubNext = nil
	}
	s.openWindow(e)
	s.send(e, st)
}

// caughtUp is the status an app waits for after an open: connected, no
// initial sync running, and every change the server has applied.
func caughtUp(st syncstatus.Status) bool {
	return st.Connected && !st.InitialSync.Active && st.Head > 0 && st.Cursor >= st.Head
}

// milestone reports whether st changes what apps wait for, against the
// last status sent: the state or the connection, an initial sync's start
// or end, or the first caught-up status of a connection. The window holds
// the many statuses of writes and chunks; holding these would show a
// connection or "synced" up to statusEvery late (on every open: the
// session's first statuses come within milliseconds of each other).
// pubMu is held.
func (s *dbSync) milestone(st syncstatus.Status) bool {
	last := s.pubLast
	return st.State != last.State || st.Connected != last.Connected ||
		st.InitialSync.Active != last.InitialSync.Active || (caughtUp(st) && !s.pubCaughtUp)
}

// openWindow starts the window after a status sent; pubMu is held.
func (s *dbSync) openWindow(e *Engine) {
	s.pubGen++
	gen := s.pubGen
	s.pubWindow = time.AfterFunc(s.pubEvery, func() { s.endWindow(e, gen) })
}

// endWindow ends window gen: it sends the newest status made during it,
// if any, and opens the next window after that. A window already ended
// (flushStatus stopped it, or it ran) does nothing.
func (s *dbSync) endWindow(e *Engine, gen uint64) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if s.pubWindow == nil || s.pubGen != gen {
		return
	}
	next := s.pubNext
	s.pubNext = nil
	if next == nil {
		s.pubWindow = nil
		return
	}
	s.openWindow(e)
	s.send(e, *next)
}

// flushStatus sends a status held for its window's end now (the sync
// loop has stopped: its last status is the one to show).
func (s *dbSync) flushStatus(e *Engine) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if s.pubWindow != nil {
		s.pubWindow.Stop()
		s.pubWindow = nil
	}
	if next := s.pubNext; next != nil {
		s.pubNext = nil
		s.send(e, *next)
	}
}

// send sends a status to every subscription.
func (s *dbSync) send(e *Engine, st syncstatus.Status) {
	s.pubLast = st
	switch {
	case !st.Connected:
		s.pubCaughtUp = false
	case caughtUp(st):
		s.pubCaughtUp = true
	}
	s.mu.Lock()
	subs := make([]int64, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		e.push(sub, func(enc *codec.Encoder) {
			enc.Key("status")
			st.Encode(enc)
		})
	}
}

func (s *dbSync) watch(sub int64) {
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
}

func (s *dbSync) unwatch(sub int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.subs[sub]
	delete(s.subs, sub)
	return ok
}

// setToken replaces the token (after a refresh) and reconnects a client
// paused on an expired or refused one.
func (s *dbSync) setToken(token string) {
	s.mu.Lock()
	s.token = token
	s.mu.Unlock()
	s.client.TokenChanged()
}

// errNotSynced answers sync requests on a database opened without sync.
func errNotSynced(handle int64) error {
	return protocol.Errorf(protocol.CodeBadRequest, "database handle %d was opened without sync options", handle)
}

// setOnline passes the page's network signal to every sync client.
func (e *Engine) setOnline(online bool) {
	e.online.Store(online)
	e.mu.Lock()
	var clients []*syncclient.Client
	for _, o := range e.dbs {
		if o.sync != nil {
			clients = append(clients, o.sync.client)
		}
	}
	e.mu.Unlock()
	for _, c := range clients {
		c.Online(online)
	}
}

// localCall is one turn the sync client asked for on the connection.
type localCall struct {
	fn   func(*sqlite3.Conn) error
	done chan error
	// state: 0 queued, 1 taken by the owner, 2 abandoned by the caller.
	state atomic.Int32
}

var errOwnerGone = errors.New("the database is closed")

// ownerLocal gives the sync client turns on the owner goroutine: Do
// queues fn beside the page's requests and waits for its result.
type ownerLocal struct{ owner *dbOwner }

func (l ownerLocal) Do(ctx context.Context, fn func(*sqlite3.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	call := &localCall{fn: fn, done: make(chan error, 1)}
	if !l.owner.queue.pushCall(call) {
		return errOwnerGone
	}
	select {
	case err := <-call.done:
		return err
	case <-ctx.Done():
		if call.state.CompareAndSwap(0, 2) {
			return ctx.Err()
		}
		return <-call.done
	}
}

// runCalls gives the sync client its turns. A turn that wrote marks the
// journal's own tables changed, for live queries over them (the client's
// statements bypass the tracking authorizer; the app rows it applied
// arrive through Applied).
func (e *Engine) runCalls(db *database, calls []*localCall) {
	for i, call := range calls {
		if !call.state.CompareAndSwap(0, 1) {
			continue
		}
		if db.conn == nil {
			call.done <- errOwnerGone
			continue
		}
		before := db.conn.db.TotalChanges()
		err := runCall(db.conn.db, call.fn)
		if db.conn.db.TotalChanges() != before {
			db.conn.markWritten(hearthTables)
		}
		if err != nil {
			call.done <- err
			continue
		}
		// Whatever the turn did is flushed, DDL included (TotalChanges
		// does not count it: the indexes an initial sync restores);
		// Flush returns at once when there is nothing to send.
		if err := e.flush(db); err != nil {
			// The turn's commit was lost: the turn fails, which ends the
			// client's session, and so do the turns queued behind it,
			// asked for on the lost state; then the connection is opened
			// again on the durable one (storageLost).
			call.done <- err
			for _, rest := range calls[i+1:] {
				if rest.state.CompareAndSwap(0, 1) {
					rest.done <- err
				}
			}
			e.storageLost(db, err)
			return
		}
		call.done <- nil
	}
}

// hearthTables are the sync tables an app may query (and watch).
var hearthTables = []string{"_hearth_journal", "_hearth_violations", "_hearth_quarantine"}

func runCall(conn *sqlite3.Conn, fn func(*sqlite3.Conn) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if !conn.GetAutocommit() {
				conn.Exec("ROLLBACK")
			}
			err = fmt.Errorf("panic in a sync turn: %v", r)
		}
	}()
	return fn(conn)
}

// runJournalOp lets the app settle what sync set aside: retry or discard a
// quarantined change, dismiss a flagged or refused one it has shown.
func (e *Engine) runJournalOp(db *database, req protocol.Request, enc *codec.Encoder) error {
	if db.sync == nil {
		return errNotSynced(db.handle)
	}
	if db.conn.InTransaction() {
		return protocol.Errorf(protocol.CodeBusy, "op %q cannot run inside the app's open transaction", req.Op)
	}
	// "id" is the envelope's request id: operands need other names.
	key := "quarantineId"
	if req.Op == protocol.OpDismissChange {
		key = "seq"
	}
	n, ok := req.Fields[key].(int64)
	if !ok {
		return protocol.Errorf(protocol.CodeBadRequest, "op %q needs integer field %q, got %s", req.Op, key, codec.TypeName(req.Fields[key]))
	}
	conn := db.conn.db
	var seq int64
	var err error
	switch req.Op {
	case protocol.OpRetryQuarantined:
		rename := map[string]string{}
		if m, ok := req.Fields["rename"].(map[string]any); ok {
			for from, to := range m {
				if s, ok := to.(string); ok {
					rename[from] = s
				}
			}
		}
		seq, err = db.sync.journal.Retry(conn, n, rename)
	case protocol.OpDiscardQuarantined:
		err = journal.Discard(conn, n)
	case protocol.OpDismissChange:
		err = journal.Dismiss(conn, n)
	}
	if errors.Is(err, journal.ErrNotFound) {
		return protocol.Errorf(protocol.CodeNotFound, "%s %d: %v", key, n, err)
	}
	if err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "%s: %v", req.Op, err)
	}
	db.conn.markWritten(hearthTables)
	if req.Op == protocol.OpRetryQuarantined {
		db.sync.client.Notify()
	}
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Map(1)
	enc.Key("seq")
	enc.Int(seq)
	return nil
}
