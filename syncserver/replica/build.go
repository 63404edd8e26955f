// Package replica builds a new device's database on the server: the
// app's migrations, Hearth's sync tables and every row the caller may
// read, synced to the log by the same client code a device runs, but
// natively. A device on its first visit downloads the file (GET
// /v1/replica, Handler) and copies it into its storage in one pass, then
// syncs on from the file's cursor, instead of applying a snapshot row by
// row in WebAssembly (5–10 times slower there than here).
//
// The build is an ordinary sync session with the caller's own
// credential, over an in-process connection to the sync endpoint: the
// file holds exactly what that identity's scopes and read rules let it
// pull, and nothing is cached between identities.
package replica

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
)

// Layout is what a device's database file must agree on with the file it
// copies in: SQLite's backup cannot change the page size of a database in
// WAL mode, and auto-vacuum is fixed when the first table is created.
type Layout struct {
	// PageSize is a power of two from 512 to 65536.
	PageSize int
	// AutoVacuum is 0 (none), 1 (full) or 2 (incremental).
	AutoVacuum int
}

// Check reports a layout SQLite would not take as asked.
func (l Layout) Check() error {
	if l.PageSize < 512 || l.PageSize > 65536 || l.PageSize&(l.PageSize-1) != 0 {
		return fmt.Errorf("page size %d: want a power of two from 512 to 65536", l.PageSize)
	}
	if l.AutoVacuum < 0 || l.AutoVacuum > 2 {
		return fmt.Errorf("auto_vacuum %d: want 0, 1 or 2", l.AutoVacuum)
	}
	return nil
}

// Request is one build.
type Request struct {
	// URL is the sync endpoint the build's client connects to, through
	// Dial.
	URL  string
	Dial client.Dialer
	// Token is the caller's credential, presented as a device would.
	Token      string
	Migrations []appschema.Migration
	Tables     []appschema.Table
	Layout     Layout
	// Dir is where the file is written ("" is os.TempDir()).
	Dir string
	// MaxBytes stops a build whose file grows past it (0: no bound).
	MaxBytes int64
	// From, when set, is a file Build made before for the same caller
	// and layout: Build takes it over and pulls only the log written
	// since its cursor (a device returning to it would do the same).
	From string
}

// File is a built replica. The caller removes Path.
type File struct {
	Path string
	Size int64
	// Cursor is the server log position the file has applied.
	Cursor int64
	// Rows is how many rows of the synced tables the file holds.
	Rows int64
}

// Errors a build ends with besides the context's and SQLite's.
var (
	// ErrUnauthorized: the sync endpoint refused the credential.
	ErrUnauthorized = errors.New("the sync server refused the credential")
	// ErrRefused: the sync endpoint refused this schema or client.
	ErrRefused = errors.New("the sync server refused the build's session")
	// ErrTooLarge: the file grew past Request.MaxBytes.
	ErrTooLarge = errors.New("the replica is larger than the server allows")
)

// Build writes a replica file: the database a device running req's
// migrations and tables would hold after its initial sync, without the
// device's own identity (journal.ForgetDevice).
func Build(ctx context.Context, req Request) (f File, err error) {
	if err := req.Layout.Check(); err != nil {
		return File{}, err
	}
	if f.Path = req.From; f.Path == "" {
		tmp, err := os.CreateTemp(req.Dir, "hearth-replica-*.db")
		if err != nil {
			return File{}, fmt.Errorf("replica: %w", err)
		}
		f.Path = tmp.Name()
		tmp.Close()
	}
	defer func() {
		if err != nil {
			os.Remove(f.Path)
			f = File{}
		}
	}()
	conn, err := sqlite3.Open(f.Path)
	if err != nil {
		return f, fmt.Errorf("replica: open %s: %w", f.Path, err)
	}
	defer func() {
		if cerr := conn.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("replica: close: %w", cerr)
		}
	}()
	// The file is disposable until it is served: no journal, no syncs.
	// (page_size and auto_vacuum change nothing in a file taken over.)
	setup := fmt.Sprintf("PRAGMA page_size = %d; PRAGMA auto_vacuum = %d; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE",
		req.Layout.PageSize, req.Layout.AutoVacuum)
	if err := conn.Exec(setup); err != nil {
		return f, fmt.Errorf("replica: set up the file: %w", err)
	}
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(nil), Tables: req.Tables})
	if err != nil {
		return f, fmt.Errorf("replica: %w", err)
	}
	version, err := userVersion(conn)
	if err != nil {
		return f, fmt.Errorf("replica: %w", err)
	}
	for _, m := range req.Migrations {
		if m.Version <= version {
			continue // a file taken over has them
		}
		// As a device's worker runs them (wasm/engine migrate): one
		// transaction each, recorded as user_version.
		if err := conn.Exec(fmt.Sprintf("BEGIN IMMEDIATE; %s;\nPRAGMA user_version = %d; COMMIT", m.SQL, m.Version)); err != nil {
			conn.Exec("ROLLBACK")
			return f, fmt.Errorf("replica: migration %d: %w", m.Version, err)
		}
	}
	if err := j.Install(conn); err != nil {
		return f, fmt.Errorf("replica: %w", err)
	}
	if f.Cursor, err = pull(ctx, req, f.Path, conn, j); err != nil {
		return f, err
	}
	if err := journal.ForgetDevice(conn); err != nil {
		return f, fmt.Errorf("replica: %w", err)
	}
	if f.Rows, err = syncedRows(conn, req.Tables); err != nil {
		return f, fmt.Errorf("replica: %w", err)
	}
	fi, err := os.Stat(f.Path)
	if err != nil {
		return f, fmt.Errorf("replica: %w", err)
	}
	f.Size = fi.Size()
	return f, nil
}

// pull runs a sync client on conn until its initial sync is over and it
// has caught up with the log, and returns the cursor it reached.
func pull(ctx context.Context, req Request, path string, conn *sqlite3.Conn, j *journal.Journal) (int64, error) {
	statuses := make(chan syncstatus.Status, 1)
	c, err := client.New(client.Config{
		URL:              req.URL,
		Dial:             req.Dial,
		Local:            client.NewLockedLocal(conn),
		Journal:          j,
		Token:            func(context.Context) (string, error) { return req.Token, nil },
		ChecksumInterval: -1,
		OnStatus: func(st syncstatus.Status) {
			// Only the latest matters: replace what is waiting.
			select {
			case <-statuses:
			default:
			}
			statuses <- st
		},
	})
	if err != nil {
		return 0, fmt.Errorf("replica: %w", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { c.Run(runCtx); close(stopped) }()
	defer func() { stop(); <-stopped }()
	for {
		select {
		case st := <-statuses:
			switch {
			case st.State == syncstatus.StatePausedAuth:
				return 0, ErrUnauthorized
			case st.State == syncstatus.StatePausedSchema, st.State == syncstatus.StatePausedReplica:
				return 0, fmt.Errorf("%w: %s", ErrRefused, st.State)
			case req.MaxBytes > 0 && fileSize(path) > req.MaxBytes:
				// Checked after each chunk: a file may pass the bound by
				// one chunk before the build stops.
				return 0, ErrTooLarge
			case st.LastError != nil && st.LastError.Class == syncstatus.ClassLocal:
				// Applying failed here, and would again (the schema
				// refuses the server's rows, the disk is full).
				return 0, fmt.Errorf("replica: applying the snapshot failed: %s", st.LastError.Message)
			case !st.LastSyncedAt.IsZero() && !st.InitialSync.Active && st.Cursor >= 0:
				stop()
				<-stopped
				// The client may have applied more after this status: the
				// cursor is the one the file holds.
				return savedCursor(conn)
			}
		case <-ctx.Done():
			st := c.Status()
			if st.LastError != nil {
				return 0, fmt.Errorf("replica: %w (last sync error: %s %s)", ctx.Err(), st.LastError.Code, st.LastError.Message)
			}
			return 0, fmt.Errorf("replica: %w (sync state %s, %d of %d rows)", ctx.Err(), st.State, st.InitialSync.Rows, st.InitialSync.Total)
		}
	}
}

func userVersion(conn *sqlite3.Conn) (int64, error) {
	s, _, err := conn.Prepare(`PRAGMA user_version`)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if !s.Step() {
		return 0, s.Err()
	}
	return s.ColumnInt64(0), nil
}

func savedCursor(conn *sqlite3.Conn) (int64, error) {
	s, _, err := conn.Prepare(`SELECT v FROM _hearth_sync WHERE k = 'cursor'`)
	if err != nil {
		return 0, fmt.Errorf("replica: read the cursor: %w", err)
	}
	defer s.Close()
	if !s.Step() {
		return 0, fmt.Errorf("replica: no cursor saved: %w", s.Err())
	}
	return s.ColumnInt64(0), nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// syncedRows counts the rows of the synced tables.
func syncedRows(conn *sqlite3.Conn, tables []appschema.Table) (int64, error) {
	var rows int64
	for _, t := range tables {
		s, _, err := conn.Prepare(`SELECT count(*) FROM ` + schema.Quote(t.Name))
		if err != nil {
			return 0, err
		}
		if s.Step() {
			rows += s.ColumnInt64(0)
		}
		err = s.Err()
		s.Close()
		if err != nil {
			return 0, err
		}
	}
	return rows, nil
}
