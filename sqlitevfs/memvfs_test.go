package sqlitevfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

func TestMemoryVFSRoundTrip(t *testing.T) {
	// 512-byte pages cross no sector; 65,536-byte pages are one each.
	for _, pageSize := range []string{"512", "4096", "65536"} {
		t.Run(pageSize, func(t *testing.T) {
			v := NewMemoryVFS()
			name := register(t, v)
			c := open(t, name, "PRAGMA page_size = "+pageSize)
			if got := queryOne(t, c, "PRAGMA journal_mode"); got != "memory" {
				t.Errorf("journal_mode %q, want memory (the VFS keeps no journal files)", got)
			}
			mustExec(t, c, createTable)
			fill(t, c, 3000) // several 64 KiB sectors
			mustExec(t, c, "UPDATE t SET c = 'x' || a WHERE a % 10 = 0")
			want := mustDigest(t, c)

			// A rolled-back transaction leaves nothing.
			mustExec(t, c, "BEGIN; DELETE FROM t WHERE a % 3 = 0; INSERT INTO t(b, c) VALUES (x'00', 'gone'); ROLLBACK")
			if got := mustDigest(t, c); got != want {
				t.Errorf("after a rollback the digest is %s, want %s", got, want)
			}

			// Another connection shares the database.
			c2 := open(t, name)
			if got := mustDigest(t, c2); got != want {
				t.Errorf("a second connection's digest is %s, want %s", got, want)
			}
			if err := c2.Close(); err != nil {
				t.Fatal(err)
			}

			// Shrinking, then growing again, reads no stale bytes.
			mustExec(t, c, "DELETE FROM t WHERE a > 100")
			mustExec(t, c, "VACUUM")
			fill(t, c, 2000)
			mustBeIntact(t, c)

			// The database goes with its last connection.
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if ok, _ := v.Access("/test.db", vfs.ACCESS_EXISTS); ok {
				t.Error("the database outlived its last connection")
			}
			c = open(t, name)
			if got := queryOne(t, c, "SELECT count(*) FROM sqlite_schema"); got != "0" {
				t.Errorf("a reopened database has %s tables, want 0", got)
			}
		})
	}
}

func TestMemoryVFSCreateKeepsUntilDrop(t *testing.T) {
	// A database file made elsewhere (as a replica file is downloaded).
	path := filepath.Join(t.TempDir(), "src.db")
	src, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, src, createTable)
	fill(t, src, 500)
	want := mustDigest(t, src)
	src.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	v := NewMemoryVFS()
	name := register(t, v)
	v.Create("/test.db", data)
	c := open(t, name)
	if got := mustDigest(t, c); got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	c.Close()
	if ok, _ := v.Access("/test.db", vfs.ACCESS_EXISTS); !ok {
		t.Fatal("a created database went with its last connection before Drop")
	}
	c = open(t, name)
	v.Drop("/test.db")
	if got := mustDigest(t, c); got != want {
		t.Errorf("after Drop an open connection's digest is %s, want %s", got, want)
	}
	c.Close()
	if ok, _ := v.Access("/test.db", vfs.ACCESS_EXISTS); ok {
		t.Error("a dropped database outlived its last connection")
	}
}

func TestMemoryVFSLocks(t *testing.T) {
	name := register(t, NewMemoryVFS())
	c1 := open(t, name)
	c2 := open(t, name)
	mustExec(t, c1, createTable)
	mustExec(t, c1, "BEGIN IMMEDIATE")
	if err := c2.Exec("BEGIN IMMEDIATE"); !errors.Is(err, sqlite3.BUSY) {
		t.Fatalf("second writer: %v, want SQLITE_BUSY", err)
	}
	mustExec(t, c1, "INSERT INTO t(b, c) VALUES (x'01', 'one'); COMMIT")
	if got := queryOne(t, c2, "SELECT count(*) FROM t"); got != "1" {
		t.Errorf("the other connection sees %s rows, want 1", got)
	}
}

func TestMemoryVFSOpensOnlyWhatExistsWithoutCreate(t *testing.T) {
	name := register(t, NewMemoryVFS())
	if _, err := sqlite3.OpenFlags("file:/none.db?vfs="+name, sqlite3.OPEN_READWRITE|sqlite3.OPEN_URI); err == nil {
		t.Error("opened a database that is not there without OPEN_CREATE")
	}
}

// A file cut short and grown again reads zeros where it was cut, as a
// file on disk does, within a sector and across one.
func TestMemoryVFSTruncateForgetsWhatItCut(t *testing.T) {
	v := NewMemoryVFS()
	f, _, err := v.Open("/t.db", vfs.OPEN_MAIN_DB|vfs.OPEN_CREATE|vfs.OPEN_READWRITE)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	full := bytes.Repeat([]byte{0xAB}, 3*memorySector)
	if _, err := f.WriteAt(full, 0); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int64{memorySector + 100, 10} {
		if err := f.Truncate(cut); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(3 * memorySector); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 3*memorySector)
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		want := append(bytes.Repeat([]byte{0xAB}, int(cut)), make([]byte, 3*memorySector-cut)...)
		if !bytes.Equal(got, want) {
			t.Errorf("cut at %d: the grown file reads old bytes past the cut", cut)
		}
	}
	if n, err := f.ReadAt(make([]byte, 10), 3*memorySector-5); n != 5 || !errors.Is(err, sqlite3.IOERR_SHORT_READ) {
		t.Errorf("a read past the end: %d bytes, %v; want 5 and a short read", n, err)
	}
}
