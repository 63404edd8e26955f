package sqlitevfs

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs/memdb"
)

// The benchmarks run the same workloads on memdb (SQLite's own in-memory
// database, the floor), the FileVFS and the BlockVFS over memory stores: the
// difference is the VFS's overhead. In the browser each store round trip
// (reported as trips/op) costs far more than this CPU time.

type benchDB struct {
	uri   string
	trips func() int64 // BlockVFS store round trips so far; nil for others
}

func newBenchDB(b *testing.B, kind string) benchDB {
	b.Helper()
	switch kind {
	case "memdb":
		name := fmt.Sprintf("bench-%d", vfsSeq.Add(1))
		memdb.Create(name, nil)
		b.Cleanup(func() { memdb.Delete(name) })
		return benchDB{uri: "file:/" + name + "?vfs=memdb"}
	case "FileVFS":
		return benchDB{uri: dbURI(register(b, NewFileVFS(NewMemoryFileStore())))}
	case "BlockVFS":
		v := NewBlockVFS(NewMemoryBlockStore(), BlockOptions{})
		return benchDB{uri: dbURI(register(b, v)), trips: func() int64 { return v.Stats().RoundTrips() }}
	}
	panic(kind)
}

func (d benchDB) open(b *testing.B) *sqlite3.Conn {
	b.Helper()
	c, err := sqlite3.Open(d.uri)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func (d benchDB) reportTrips(b *testing.B, before int64) {
	if d.trips != nil {
		b.ReportMetric(float64(d.trips()-before)/float64(b.N), "trips/op")
	}
}

// insertRows inserts n rows in one transaction with a prepared statement.
func insertRows(b *testing.B, c *sqlite3.Conn, n int) {
	b.Helper()
	mustExec(b, c, "BEGIN")
	stmt, _, err := c.Prepare("INSERT INTO t(b, c) VALUES (?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	payload := make([]byte, 100)
	for i := range n {
		stmt.BindBlob(1, payload)
		stmt.BindText(2, fmt.Sprintf("key%07d", i))
		if err := stmt.Exec(); err != nil {
			b.Fatal(err)
		}
	}
	mustExec(b, c, "COMMIT")
}

// benchInsert10k: create a database and insert 10,000 rows in one
// transaction, per op.
func benchInsert10k(b *testing.B, kind string) {
	b.ReportAllocs()
	var trips int64
	for b.Loop() {
		b.StopTimer()
		d := newBenchDB(b, kind)
		c := d.open(b)
		mustExec(b, c, createTable)
		b.StartTimer()
		before := int64(0)
		if d.trips != nil {
			before = d.trips()
		}
		insertRows(b, c, 10_000)
		if d.trips != nil {
			trips += d.trips() - before
		}
		c.Close()
	}
	if kind == "BlockVFS" {
		b.ReportMetric(float64(trips)/float64(b.N), "trips/op")
	}
}

// benchInsertTxn: one single-row transaction per op.
func benchInsertTxn(b *testing.B, kind string) {
	d := newBenchDB(b, kind)
	c := d.open(b)
	mustExec(b, c, createTable)
	insertRows(b, c, 1000)
	stmt, _, err := c.Prepare("INSERT INTO t(b, c) VALUES (randomblob(100), 'txn')")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	var before int64
	if d.trips != nil {
		before = d.trips()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := stmt.Exec(); err != nil {
			b.Fatal(err)
		}
	}
	d.reportTrips(b, before)
}

// benchPointRead: one random indexed lookup in 10,000 rows per op.
func benchPointRead(b *testing.B, kind string) {
	d := newBenchDB(b, kind)
	c := d.open(b)
	mustExec(b, c, createTable)
	insertRows(b, c, 10_000)
	stmt, _, err := c.Prepare("SELECT length(b) FROM t WHERE c = ?")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var before int64
	if d.trips != nil {
		before = d.trips()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		stmt.BindText(1, fmt.Sprintf("key%07d", rng.IntN(10_000)))
		if !stmt.Step() || stmt.ColumnInt(0) != 100 {
			b.Fatal("row not found", stmt.Err())
		}
		stmt.Reset()
	}
	d.reportTrips(b, before)
}

func BenchmarkMemdbInsert10k(b *testing.B)    { benchInsert10k(b, "memdb") }
func BenchmarkFileVFSInsert10k(b *testing.B)  { benchInsert10k(b, "FileVFS") }
func BenchmarkBlockVFSInsert10k(b *testing.B) { benchInsert10k(b, "BlockVFS") }

func BenchmarkMemdbInsertTxn(b *testing.B)    { benchInsertTxn(b, "memdb") }
func BenchmarkFileVFSInsertTxn(b *testing.B)  { benchInsertTxn(b, "FileVFS") }
func BenchmarkBlockVFSInsertTxn(b *testing.B) { benchInsertTxn(b, "BlockVFS") }

func BenchmarkMemdbPointRead(b *testing.B)    { benchPointRead(b, "memdb") }
func BenchmarkFileVFSPointRead(b *testing.B)  { benchPointRead(b, "FileVFS") }
func BenchmarkBlockVFSPointRead(b *testing.B) { benchPointRead(b, "BlockVFS") }
