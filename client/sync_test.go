package client

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
)

// migration is the notes table the Go-client sync tests use.
const migration = "CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT NOT NULL DEFAULT '')"

// notesServer starts a sync server for the notes table on loopback and
// returns its WebSocket URL.
func notesServer(t *testing.T, table appschema.Table) string {
	t.Helper()
	srv, err := syncserver.New(syncserver.Config{
		Migrations: []appschema.Migration{{Version: 1, SQL: migration}},
		Tables:     []appschema.Table{table},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// TestSyncThroughTheGoClient: two Go clients, each on its own engine,
// sync through a real server; one sees the other's write in a live query
// and the sync status follows the offline signal.
func TestSyncThroughTheGoClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := notesServer(t, appschema.Table{Name: "notes"})

	open := func(name string) (*Client, *DB) {
		c, db := openDB(t, ctx, OpenOptions{Name: name, Storage: "memory",
			Migrations: []appschema.Migration{{Version: 1, SQL: migration}},
			Sync:       &SyncOptions{URL: url, Tables: []string{"notes"}}})
		if !db.Synced {
			t.Fatal("open did not report sync")
		}
		return c, db
	}
	ca, a := open("go-sync-a")
	_, b := open("go-sync-b")

	seen := make(chan Result, 16)
	if _, err := b.Watch(ctx, "SELECT id, body FROM notes", nil, func(r Result) { seen <- r }); err != nil {
		t.Fatal(err)
	}
	statuses := make(chan syncstatus.Status, 256)
	stop, err := a.WatchSync(ctx, func(st syncstatus.Status) { statuses <- st })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "INSERT INTO notes VALUES ('n1', 'hello')"); err != nil {
		t.Fatal(err)
	}
	for r := range seen {
		if len(r.Rows) == 1 && r.Rows[0][1] == "hello" {
			break
		}
	}
	if err := ca.SetOnline(ctx, false); err != nil {
		t.Fatal(err)
	}
	for st := range statuses {
		if st.State == "offline" && !st.Online && st.Retries["offline"] > 0 {
			break
		}
	}
	if err := stop(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := a.SyncStatus(ctx)
	if err != nil || st.Online {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// TestCollaborativeTextAndHistoryThroughTheGoClient: two Go clients on
// their own engines edit one note's body offline; back online, both read
// both edits (the body is a collaborative text column), and History
// reports the body as merged with the journal entry that wrote it.
func TestCollaborativeTextAndHistoryThroughTheGoClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := notesServer(t, appschema.Table{Name: "notes", Text: []string{"body"}})
	open := func(name string) (*Client, *DB) {
		return openDB(t, ctx, OpenOptions{Name: name, Storage: "memory",
			Migrations: []appschema.Migration{{Version: 1, SQL: migration}},
			Sync:       &SyncOptions{URL: url, Tables: []string{"notes"}, Text: map[string][]string{"notes": {"body"}}}})
	}
	ca, a := open("go-text-a")
	cb, b := open("go-text-b")
	body := func(db *DB) string {
		r, err := db.Query(ctx, "SELECT body FROM notes WHERE id = 'n1'")
		if err != nil || len(r.Rows) != 1 {
			return ""
		}
		s, _ := r.Rows[0][0].(string)
		return s
	}
	waitBody := func(db *DB, want string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); body(db) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("body %q, want %q", body(db), want)
			}
		}
	}
	if _, err := a.Exec(ctx, "INSERT INTO notes VALUES ('n1', 'milk, eggs')"); err != nil {
		t.Fatal(err)
	}
	waitBody(b, "milk, eggs")
	for _, c := range []*Client{ca, cb} {
		if err := c.SetOnline(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Exec(ctx, "UPDATE notes SET body = 'oat milk, eggs' WHERE id = 'n1'"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, "UPDATE notes SET body = 'milk, eggs, bread' WHERE id = 'n1'"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{ca, cb} {
		if err := c.SetOnline(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	waitBody(a, "oat milk, eggs, bread")
	waitBody(b, "oat milk, eggs, bread")

	// a may read b's edit before the server's ack of its own arrives:
	// wait for its journal to say so (bounded).
	var h RowHistory
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if h, err = a.History(ctx, "notes", "n1"); err != nil {
			t.Fatal(err)
		}
		if len(h.Journal) == 0 || h.Journal[0].State != "sent" || time.Now().After(deadline) {
			break
		}
	}
	var f FieldHistory
	for _, x := range h.Fields {
		if x.Column == "body" {
			f = x
		}
	}
	if !h.Exists || !f.Merged || f.Value != "oat milk, eggs, bread" || f.Writer == nil || len(h.Lost) != 0 {
		t.Fatalf("history: %+v (body %+v)", h, f)
	}
	if len(h.Journal) != 2 || h.Journal[0].Op != "update" || h.Journal[0].State != "acknowledged" || h.Journal[0].Stamp.Node == "" {
		t.Fatalf("journal: %+v", h.Journal)
	}
}

// TestSyncOptionsSayHowANewDatabaseBegins: the replica options reach the
// worker's open request as the page's replica: false or URL would.
func TestSyncOptionsSayHowANewDatabaseBegins(t *testing.T) {
	for _, c := range []struct {
		opts SyncOptions
		want any
	}{
		{SyncOptions{URL: "ws://x/sync"}, nil},
		{SyncOptions{URL: "ws://x/sync", NoReplica: true, ReplicaURL: "https://x/r"}, false},
		{SyncOptions{URL: "ws://x/sync", ReplicaURL: "https://x/r"}, "https://x/r"},
	} {
		if got := c.opts.fields()["replica"]; got != c.want {
			t.Errorf("%+v: replica %v, want %v", c.opts, got, c.want)
		}
	}
}
