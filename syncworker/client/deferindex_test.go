package client

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
)

// indexedReplica is a database whose synced table has two plain indexes
// (one partial), a unique one, and an unsynced table with an index of
// its own.
func indexedReplica(t *testing.T) (*LockedLocal, *journal.Journal) {
	t.Helper()
	return replicaOf(t, `CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT, tag TEXT);
		CREATE INDEX notes_by_body ON notes(body);
		CREATE INDEX "notes ""tagged""" ON notes(tag, body) WHERE tag IS NOT NULL;
		CREATE UNIQUE INDEX notes_unique_tag ON notes(tag, id);
		CREATE TABLE drafts(id TEXT PRIMARY KEY, body TEXT);
		CREATE INDEX drafts_by_body ON drafts(body);`, ``)
}

// indexes maps each index of the database to its SQL.
func indexes(t *testing.T, local *LockedLocal) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := local.Do(context.Background(), func(conn *sqlite3.Conn) error {
		s, _, err := conn.Prepare(`SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND name NOT LIKE '\_hearth%' ESCAPE '\'`)
		if err != nil {
			return err
		}
		defer s.Close()
		for s.Step() {
			out[s.ColumnText(0)] = s.ColumnText(1)
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// chunkOf is n inserts into notes, keyed prefix-0 … prefix-(n-1).
func chunkOf(prefix string, n int) []change.Change {
	var chs []change.Change
	for k := range n {
		key, _ := change.EncodeKey(fmt.Sprintf("%s-%d", prefix, k))
		chs = append(chs, change.Change{Table: "notes", Key: key, Op: change.Insert, Schema: 1,
			Stamp: hlc.Stamp{TS: hlc.Make(1_700_000_000_000, 0), Node: "server"}, Values: map[string]any{"body": fmt.Sprintf("b%d", k), "tag": prefix}})
	}
	return chs
}

// A snapshot of at least DeferIndexesFrom rows drops the synced table's
// plain indexes with its first chunk and builds them, as they were, with
// its last; a unique index and an unsynced table's index stay throughout.
// A smaller snapshot leaves the schema alone.
func TestALargeSnapshotBuildsItsTablesIndexesAtItsEnd(t *testing.T) {
	for _, from := range []int{4, 100} {
		t.Run(fmt.Sprintf("DeferIndexesFrom=%d", from), func(t *testing.T) {
			local, j := indexedReplica(t)
			before := indexes(t, local)
			if len(before) != 4 {
				t.Fatalf("indexes before: %v", before)
			}
			release := make(chan struct{})
			url := fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				sendMsg(ctx, ws, wire.Welcome{Server: "s1", Head: 7, Min: 1, Max: 1, MaxMessage: 1 << 20})
				for i := 0; ; i++ {
					req, ok := readMsg(t, ctx, ws).(wire.SnapshotRequest)
					if !ok {
						return
					}
					chs := chunkOf(fmt.Sprintf("c%d", i), 3)
					if i == 1 {
						select {
						case <-release:
						case <-ctx.Done():
							return
						}
					}
					sendMsg(ctx, ws, wire.Chunk{Re: req.ID, At: 7, Changes: chs, Rows: 3, Total: 6, Done: i == 1,
						Next: wire.SnapshotCursor{Table: "notes", Key: chs[2].Key}})
					if i == 1 {
						drain(ctx, ws)
						return
					}
				}
			}))
			c := runClient(t, Config{URL: url, Local: local, Journal: j, MinBackoff: time.Hour, MaxBackoff: time.Hour, DeferIndexesFrom: from})
			waitFor(t, "the first chunk applied", func() bool { return c.Status().InitialSync.Rows == 3 })
			during := indexes(t, local)
			want := maps.Clone(before)
			if from <= 6 {
				delete(want, "notes_by_body")
				delete(want, `notes "tagged"`)
			}
			if !maps.Equal(during, want) {
				t.Fatalf("indexes while the snapshot is applied: %v, want %v", slices.Sorted(maps.Keys(during)), slices.Sorted(maps.Keys(want)))
			}
			close(release)
			waitFor(t, "the snapshot applied", func() bool { return c.Status().Cursor == 7 })
			if after := indexes(t, local); !maps.Equal(after, before) {
				t.Fatalf("indexes after the snapshot: %v, want them as before: %v", after, before)
			}
			var rows int64
			local.Do(context.Background(), func(conn *sqlite3.Conn) error {
				s, _, _ := conn.Prepare(`SELECT count(*) FROM notes INDEXED BY notes_by_body WHERE body >= ''`)
				defer s.Close()
				s.Step()
				rows = s.ColumnInt64(0)
				return s.Err()
			})
			if rows != 6 {
				t.Fatalf("rows through the rebuilt index: %d, want 6", rows)
			}
			var deferred bool
			if err := local.Do(context.Background(), func(conn *sqlite3.Conn) (err error) {
				deferred, err = hasDeferredIndexes(conn)
				return err
			}); err != nil || deferred {
				t.Fatalf("indexes still recorded as deferred: %v, %v", deferred, err)
			}
		})
	}
}

// A snapshot that stops part way leaves its indexes dropped and recorded;
// RestoreIndexes (what a worker's open does before the app's migrations)
// creates them again, once.
func TestRestoreIndexesAfterAnInterruptedSnapshot(t *testing.T) {
	local, j := indexedReplica(t)
	before := indexes(t, local)
	url := fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
		sendMsg(ctx, ws, wire.Welcome{Server: "s1", Head: 7, Min: 1, Max: 1, MaxMessage: 1 << 20})
		req, ok := readMsg(t, ctx, ws).(wire.SnapshotRequest)
		if !ok {
			return
		}
		chs := chunkOf("c0", 3)
		sendMsg(ctx, ws, wire.Chunk{Re: req.ID, At: 7, Changes: chs, Rows: 3, Total: 6000, Next: wire.SnapshotCursor{Table: "notes", Key: chs[2].Key}})
		drain(ctx, ws)
	}))
	c, err := New(Config{URL: url, Local: local, Journal: j, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "the first chunk applied", func() bool { return c.Status().InitialSync.Rows == 3 })
	cancel()
	<-done
	if during := indexes(t, local); len(during) != 2 {
		t.Fatalf("indexes after the interrupted snapshot: %v, want the unique one and the unsynced table's", during)
	}
	var restored [2]int
	for i := range restored {
		if err := local.Do(context.Background(), func(conn *sqlite3.Conn) (err error) {
			restored[i], err = RestoreIndexes(conn)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if restored != [2]int{2, 0} {
		t.Fatalf("RestoreIndexes restored %v indexes, want 2 then 0", restored)
	}
	if after := indexes(t, local); !maps.Equal(after, before) {
		t.Fatalf("indexes restored: %v, want %v", after, before)
	}
}
