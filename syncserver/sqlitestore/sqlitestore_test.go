package sqlitestore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
)

var v1 = appschema.Migration{Version: 1, SQL: `CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)`}

func open(t *testing.T, path string, migrations ...appschema.Migration) (*Store, store.Info) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	info, err := s.Open(context.Background(), store.Schema{Migrations: migrations, Tables: []appschema.Table{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, info
}

func TestMigrationsAndIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, info := open(t, path, v1)
	if info.Version != 1 || info.ID == "" || info.Head != 0 {
		t.Fatalf("%+v", info)
	}
	s.Close()
	v2 := appschema.Migration{Version: 2, SQL: `ALTER TABLE notes ADD COLUMN n INTEGER`}
	_, info2 := open(t, path, v1, v2)
	if info2.ID != info.ID || info2.Version != 2 {
		t.Fatalf("reopen keeps the id and migrates: %+v", info2)
	}
	// An older server on a newer database refuses to start.
	old, _ := Open(path)
	defer old.Close()
	if _, err := old.Open(context.Background(), store.Schema{Migrations: []appschema.Migration{v1}}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("downgrade: %v", err)
	}
	// A failing migration leaves the database as it was.
	bad, _ := Open(path)
	defer bad.Close()
	v3 := appschema.Migration{Version: 3, SQL: `ALTER TABLE notes ADD COLUMN m; SELECT no_such_function()`}
	if _, err := bad.Open(context.Background(), store.Schema{Migrations: []appschema.Migration{v1, v2, v3}}); err == nil {
		t.Fatal("a failing migration must fail")
	}
	bad.Close()
	_, info3 := open(t, path, v1, v2)
	if _, added := info3.Tables[0].Column("m"); added || info3.Version != 2 {
		t.Fatalf("the failed migration left traces: %+v", info3)
	}
}

func TestPushLogSnapshot(t *testing.T) {
	s, _ := open(t, "", v1)
	key, _ := change.EncodeKey("n1")
	now := hlc.Make(time.Now().UnixMilli(), 0)
	push := store.Push{Client: "c1", Schema: 1, Changes: []store.Pushed{
		{Seq: 1, Change: change.Change{Table: "notes", Key: key, Op: change.Insert, Values: map[string]any{"body": "a"}, Stamp: hlc.Stamp{TS: now, Node: "c1"}, Schema: 1}},
		{Seq: 2, Change: change.Change{Table: "notes", Key: key, Op: change.Update, Values: map[string]any{"body": "b"}, Stamp: hlc.Stamp{TS: now + 1, Node: "c1"}, Schema: 1}},
	}}
	res, err := s.Push(context.Background(), push, nil)
	if err != nil || res.Head != 2 || res.Outcomes[1].Pos != 2 {
		t.Fatalf("%v %+v", err, res)
	}
	again, err := s.Push(context.Background(), push, nil)
	if err != nil || again.Head != 2 || again.Outcomes[0].Pos != 1 || again.Outcomes[0].State != wire.Acknowledged {
		t.Fatalf("repeat: %v %+v", err, again)
	}
	entries, head, err := s.Log(context.Background(), 1, 10)
	if err != nil || head != 2 || len(entries) != 1 || entries[0].Values["body"] != "b" || entries[0].Client != "c1" {
		t.Fatalf("log: %v %d %+v", err, head, entries)
	}
	chunk, err := s.Snapshot(context.Background(), -1, merge.Cursor{}, 10, nil)
	if err != nil || chunk.At != 2 || !chunk.Done || chunk.Rows != 1 || chunk.Total != 1 {
		t.Fatalf("snapshot: %v %+v", err, chunk)
	}
	if _, err := s.Snapshot(context.Background(), 99, merge.Cursor{}, 10, nil); err == nil {
		t.Fatal("a snapshot beyond the head is a bad request")
	}
	head, sums, err := s.Checksums(context.Background())
	if err != nil || head != 2 || sums["notes"].Rows != 1 {
		t.Fatalf("checksums: %v %d %v", err, head, sums)
	}
}

// TestOpensALogFromBeforeScopes: a database whose log predates the scope
// columns gets them, keeps its entries, and records scopes from then on.
func TestOpensALogFromBeforeScopes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// The log as the first release created it, with one entry.
	if err := s.conn.Exec(`CREATE TABLE _hearth_log(pos INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT NOT NULL, seq INTEGER,
		tbl TEXT NOT NULL, pk BLOB NOT NULL, op TEXT NOT NULL, cols BLOB, hlc INTEGER NOT NULL, node TEXT NOT NULL, sv INTEGER NOT NULL, flag TEXT);
		INSERT INTO _hearth_log(client, seq, tbl, pk, op, hlc, node, sv) VALUES ('old', 1, 'notes', x'00', 'D', 1, 'old', 1)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	v1 := appschema.Migration{Version: 1, SQL: `CREATE TABLE notes(id TEXT PRIMARY KEY, ws TEXT)`}
	if _, err := s.Open(ctx, store.Schema{Migrations: []appschema.Migration{v1}, Tables: []appschema.Table{{Name: "notes"}}, Scopes: map[string]string{"notes": "ws"}}); err != nil {
		t.Fatal(err)
	}
	key, _ := change.EncodeKey("n1")
	p := store.Push{Client: "c", Schema: 1, Changes: []store.Pushed{{Seq: 1, Change: change.Change{Table: "notes", Key: key, Op: change.Insert,
		Values: map[string]any{"ws": "w1"}, Stamp: hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), 0), Node: "c"}, Schema: 1}}}}
	if _, err := s.Push(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	entries, head, err := s.Log(ctx, 0, 10)
	if err != nil || head != 2 || len(entries) != 2 {
		t.Fatalf("log %+v head %d: %v", entries, head, err)
	}
	if entries[0].Scope.Known || !entries[1].Scope.Known || entries[1].Scope.Value != "w1" {
		t.Fatalf("scopes: old %+v, new %+v", entries[0].Scope, entries[1].Scope)
	}
}

// TestReadsDoNotHoldUpPushes: while a long read (a snapshot, checksums)
// is open on the reader connection, pushes go on, and the read keeps
// seeing the state it started with: a chunk's rows are those of the log
// position it reports. Both stores' reads are checked: a file in WAL mode
// and an in-memory one (whose reader shares the database by name).
func TestReadsDoNotHoldUpPushes(t *testing.T) {
	for name, path := range map[string]string{"file": filepath.Join(t.TempDir(), "s.db"), "memory": ""} {
		t.Run(name, func(t *testing.T) {
			s, _ := open(t, path, v1)
			ctx := context.Background()
			note := func(seq int64, id string) store.Push {
				key, _ := change.EncodeKey(id)
				return store.Push{Client: "c1", Schema: 1, Changes: []store.Pushed{{Seq: seq, Change: change.Change{Table: "notes", Key: key, Op: change.Insert,
					Values: map[string]any{"body": id}, Stamp: hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), uint16(seq)), Node: "c1"}, Schema: 1}}}}
			}
			if _, err := s.Push(ctx, note(1, "n1"), nil); err != nil {
				t.Fatal(err)
			}
			var pushed store.PushResult
			var before, after int64
			var rows int64
			err := s.reader.read(func() error {
				var err error
				if before, err = s.reader.head(); err != nil {
					return err
				}
				if path == "" {
					return nil // no WAL: a commit waits for the read to end
				}
				// The read holds its transaction; the push neither waits
				// for it nor shows in it.
				if pushed, err = s.Push(ctx, note(2, "n2"), nil); err != nil {
					return err
				}
				if after, err = s.reader.head(); err != nil {
					return err
				}
				rows, err = s.reader.applier.CountRows()
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if before != 1 {
				t.Fatalf("head in the read %d, want 1", before)
			}
			if path != "" && (pushed.Head != 2 || after != 1 || rows != 1) {
				t.Fatalf("push during the read: head %d; the read saw head %d and %d rows, want 1 and 1", pushed.Head, after, rows)
			}
			if path == "" {
				if _, err := s.Push(ctx, note(2, "n2"), nil); err != nil {
					t.Fatal(err)
				}
			}
			// The reader sees the writer's commits once its read ended.
			chunk, err := s.Snapshot(ctx, -1, merge.Cursor{}, 10, nil)
			if err != nil || chunk.At != 2 || chunk.Rows != 2 || chunk.Total != 2 {
				t.Fatalf("snapshot after: %v %+v", err, chunk)
			}
			head, sums, err := s.Checksums(ctx)
			if err != nil || head != 2 || sums["notes"].Rows != 2 {
				t.Fatalf("checksums after: %v %d %v", err, head, sums)
			}
		})
	}
}
