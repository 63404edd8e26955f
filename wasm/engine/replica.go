package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
)

// ReplicaFetcher downloads a replica file (GET url, the token as a bearer
// credential when not empty) and returns its bytes, decoded from any
// Content-Encoding, calling progress when the response arrives (0 bytes)
// and as the bytes do (total is the server's ReplicaSizeHeader, 0 when
// absent). A refusal by the server is a *ReplicaRefusal. It should send
// the request before it first blocks: the open goes on with its own work
// once it does. The worker's main provides one over the browser's fetch;
// without one, a new database always syncs by snapshot.
type ReplicaFetcher func(ctx context.Context, url, token string, progress func(received, total int64)) (ReplicaFile, error)

// ReplicaFile is a replica file a ReplicaFetcher received.
type ReplicaFile struct {
	Data []byte
	// HeadStart: the worker's bootstrap had begun this download before
	// Go ran (web/hearth-head-start.js), and the fetcher took its
	// response.
	HeadStart bool
}

// ReplicaRefusal is a replica endpoint's answer other than 200.
type ReplicaRefusal struct {
	Status        int
	Code, Message string
}

func (r *ReplicaRefusal) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", r.Status, r.Code, r.Message)
}

// SetReplicaFetcher lets the worker begin a new synced database from a
// replica file its sync server builds (syncserver/replica). Call it before
// the first request.
func (e *Engine) SetReplicaFetcher(f ReplicaFetcher) { e.replicas = f }

// replicaProgressEvery spaces the download's progress reports.
const replicaProgressEvery = 100 * time.Millisecond

// A replica download in open is abandoned (the database then syncs by
// snapshot, as it would without one) when the server has not answered
// within replicaFirstByte (a cold build of 100,000 rows takes it a few
// seconds), or when the body stops for replicaStall: a network that
// accepts the request and never answers must not hold the open for long,
// while a large file on a slow but moving network may take what it
// takes, up to replicaTimeout, reported as progress.
// (Variables: tests shorten them.)
var (
	replicaFirstByte = 30 * time.Second
	replicaStall     = 10 * time.Second
	replicaTimeout   = 10 * time.Minute
)

// ReplicaSizeHeader is the replica file's size before any
// Content-Encoding (syncserver/replica.HeaderSize): a fetcher checks that
// it received that many bytes.
const ReplicaSizeHeader = "Hearth-Replica-Size"

// MaxReplicaBytes bounds a replica file whose size the server did not
// announce (a cross-origin response may hide the header).
const MaxReplicaBytes = 1 << 30

// sqliteMagic begins every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

var replicaSeq atomic.Int64

// replicaDownload is a replica file on its way: started by
// startReplica before the database opens, or by beginFromReplica after.
type replicaDownload struct {
	layout Layout
	cancel context.CancelFunc
	done   chan struct{} // closed when data, err and took are set
	file   ReplicaFile
	err    error
	took   time.Duration
}

// wantsReplica reports whether a new database opened with these options
// may begin as a replica file (when online).
func (e *Engine) wantsReplica(o *SyncOptions, migrations []appschema.Migration) bool {
	return o != nil && !o.ReplicaOff && e.replicas != nil && len(migrations) > 0
}

// startReplica begins the replica file's download before the database is
// opened, when the storage says that no file is there yet and what layout
// a new one gets. The open's own work then runs while the file arrives: on
// a first visit that is SQLite's code compiling as it is first called, over
// a second on a 2-core machine (e2e/bench/sync-trace.mjs), which the
// download used to follow. Nil when the download cannot begin early;
// beginFromReplica then starts it once the database is open and found new.
func (e *Engine) startReplica(loc Location, o *SyncOptions, migrations []appschema.Migration, progress func(received, total int64)) *replicaDownload {
	if !e.wantsReplica(o, migrations) || !e.online.Load() || loc.NewLayout == (Layout{}) {
		return nil
	}
	if exists, err := loc.fileExists(); err != nil || exists {
		return nil
	}
	d, err := e.fetchReplica(o, migrations, loc.NewLayout, progress)
	if err != nil {
		return nil // beginFromReplica finds the same error and reports it
	}
	return d
}

// fetchReplica starts downloading the replica file for the app's schema
// built with layout.
func (e *Engine) fetchReplica(o *SyncOptions, migrations []appschema.Migration, layout Layout, progress func(received, total int64)) (*replicaDownload, error) {
	u, err := replicaURL(o, appschema.Fingerprint(migrations, o.Tables), layout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), replicaTimeout)
	d := &replicaDownload{layout: layout, cancel: cancel, done: make(chan struct{})}
	asking := make(chan struct{})
	go func() {
		defer close(d.done)
		defer cancel()
		watchdog := time.AfterFunc(replicaFirstByte, cancel)
		defer watchdog.Stop()
		start := time.Now()
		var last time.Time
		close(asking)
		d.file, d.err = e.replicas(ctx, u, o.Token, func(received, total int64) {
			watchdog.Reset(replicaStall)
			if now := time.Now(); now.Sub(last) >= replicaProgressEvery || received == total {
				last = now
				progress(received, total)
			}
		})
		d.took = time.Since(start)
	}()
	// In the browser's one thread, this wait lets the download goroutine
	// run until it first blocks, which is after the fetcher has sent the
	// request: the request is out before the open's work, not at its
	// first wait for storage.
	<-asking
	return d, nil
}

// abandon stops a download nobody will use and waits for it to end, so
// that it reports no progress after the open has replied.
func (d *replicaDownload) abandon() {
	if d != nil {
		d.cancel()
		<-d.done
	}
}

// beginFromReplica copies the sync server's replica file into a new
// database (no schema, user_version 0), so that it opens with every row
// the app's identity may read and syncs on from the file's cursor instead
// of applying a snapshot. Anything short of a file that is exactly what
// this app's open would have built leaves the database new, and the
// returned status says why; the open then goes on as without a file.
//
// early is the download startReplica began before the open, or nil; it is
// used when the database is new and has the layout it was asked for,
// abandoned otherwise. progress is told of the download as it goes, at
// most every replicaProgressEvery and once at its end. An error is a
// database that could not be opened again once its file was written
// (replaceFile): c has no database and its storage is released.
func (e *Engine) beginFromReplica(c *Conn, o *SyncOptions, migrations []appschema.Migration, early *replicaDownload, progress func(received, total int64)) (syncstatus.Replica, error) {
	if !e.wantsReplica(o, migrations) {
		early.abandon()
		return syncstatus.Replica{}, nil
	}
	if isNew, err := c.isNew(); err != nil || !isNew {
		early.abandon()
		return syncstatus.Replica{}, nil
	}
	if !e.online.Load() {
		early.abandon()
		return syncstatus.Replica{Reason: "offline"}, nil
	}
	layout, err := c.layout()
	if err != nil {
		early.abandon()
		return syncstatus.Replica{Reason: "reading the database's layout: " + err.Error()}, nil
	}
	d := early
	if d != nil && d.layout != layout {
		// The storage's NewLayout is not what SQLite made: a file built
		// with it could not be copied in. Ask for one that can.
		d.abandon()
		d = nil
	}
	if d == nil {
		if d, err = e.fetchReplica(o, migrations, layout, progress); err != nil {
			return syncstatus.Replica{Reason: err.Error()}, nil
		}
	}
	<-d.done
	if d.err != nil {
		return syncstatus.Replica{Reason: "download: " + d.err.Error()}, nil
	}
	data := d.file.Data
	st := syncstatus.Replica{Bytes: int64(len(data)), Download: d.took, HeadStart: d.file.HeadStart}
	if len(data) < len(sqliteMagic) || string(data[:len(sqliteMagic)]) != sqliteMagic {
		st.Reason = "the download is not a SQLite database"
		return st, nil
	}
	start := time.Now()
	if err := c.restore(data); err != nil {
		if errors.Is(err, errReopen) {
			return st, err
		}
		st.Reason = "copying the file in: " + err.Error()
		return st, c.wipe()
	}
	if err := c.checkReplica(migrations[len(migrations)-1].Version); err != nil {
		st.Reason = err.Error()
		return st, c.wipe()
	}
	st.Used, st.Restore = true, time.Since(start)
	return st, nil
}

// replicaURL is the replica endpoint for the database's schema and
// layout: the page's sync.replica URL, or the sync URL's …/sync made
// …/v1/replica over HTTP.
func replicaURL(o *SyncOptions, fingerprint string, layout Layout) (string, error) {
	var u *url.URL
	var err error
	if o.ReplicaURL != "" {
		u, err = url.Parse(o.ReplicaURL)
	} else {
		u, err = url.Parse(o.URL)
		if err == nil {
			switch u.Scheme {
			case "ws":
				u.Scheme = "http"
			case "wss":
				u.Scheme = "https"
			}
			if !strings.HasSuffix(u.Path, "/sync") {
				return "", errors.New("the sync URL does not end in /sync; set sync.replica to the replica endpoint's URL")
			}
			u.Path = strings.TrimSuffix(u.Path, "/sync") + "/v1/replica"
			u.RawPath = ""
		}
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("the replica URL must be http or https, got %q", u)
	}
	q := url.Values{}
	q.Set("schema", fingerprint)
	q.Set("page_size", strconv.Itoa(layout.PageSize))
	q.Set("auto_vacuum", strconv.Itoa(layout.AutoVacuum))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// isNew reports a database that nothing has been written to.
func (c *Conn) isNew() (bool, error) {
	s, _, err := c.db.Prepare(`SELECT (SELECT count(*) FROM sqlite_schema) = 0 AND user_version = 0 FROM pragma_user_version()`)
	if err != nil {
		return false, err
	}
	defer s.Close()
	return s.Step() && s.ColumnBool(0), s.Err()
}

// layout is the page size and auto-vacuum mode the database will have:
// a replica file must be built with both (SQLite's backup cannot change
// the page size of a database in WAL mode).
func (c *Conn) layout() (Layout, error) {
	s, _, err := c.db.Prepare(`SELECT page_size, auto_vacuum FROM pragma_page_size(), pragma_auto_vacuum()`)
	if err != nil {
		return Layout{}, err
	}
	defer s.Close()
	if !s.Step() {
		return Layout{}, fmt.Errorf("no layout: %w", s.Err())
	}
	return Layout{PageSize: s.ColumnInt(0), AutoVacuum: s.ColumnInt(1)}, nil
}

// restore replaces the new database with data, a whole SQLite file:
// written whole at a WholeFile location (replaceFile), else through
// SQLite's backup, whose pages go through this database's VFS (encrypted
// if it is) in one transaction. An error wrapping errReopen leaves c
// without a database.
func (c *Conn) restore(data []byte) error {
	if c.location.WholeFile && !c.location.Encrypted {
		return c.replaceFile(data)
	}
	name := fmt.Sprintf("hearth-replica-%d", replicaSeq.Add(1))
	memoryVFS.Create("/"+name, data)
	defer memoryVFS.Drop("/" + name)
	return c.db.Restore("main", "file:/"+name+"?vfs="+MemoryVFSName)
}

// wipe makes the database new again after a file that could not be used.
func (c *Conn) wipe() error {
	if err := c.restore(nil); errors.Is(err, errReopen) {
		return err
	}
	return nil // the open then finds what is left and says so
}

// checkReplica checks that a copied-in file is a replica this open can
// continue: the app's schema at the version its migrations end at, a sync
// cursor, and no device identity (the journal makes this device's own).
func (c *Conn) checkReplica(version int64) error {
	s, _, err := c.db.Prepare(`SELECT (SELECT user_version FROM pragma_user_version()),
		coalesce((SELECT v FROM _hearth_sync WHERE k = 'cursor'), -1),
		(SELECT count(*) FROM _hearth_meta WHERE k = 'node')`)
	if err != nil {
		return fmt.Errorf("the file is not a replica: %w", err)
	}
	defer s.Close()
	if !s.Step() {
		return fmt.Errorf("the file is not a replica: %w", s.Err())
	}
	switch got, cursor, nodes := s.ColumnInt64(0), s.ColumnInt64(1), s.ColumnInt64(2); {
	case got != version:
		return fmt.Errorf("the file is at schema version %d, the app's migrations at %d", got, version)
	case cursor < 0:
		return errors.New("the file has no sync cursor")
	case nodes != 0:
		return errors.New("the file carries another device's identity")
	}
	return nil
}
