package syncserver

import (
	"bytes"
	"testing"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

// fuzzWriteServer is just enough of a server to convert write requests:
// a table of every column type, with a two-column key.
func fuzzWriteServer(f *testing.F) *Server {
	conn, err := sqlite3.Open("file:/fuzz-write?vfs=memdb")
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(`CREATE TABLE items(ws TEXT, n INTEGER, title TEXT NOT NULL DEFAULT '', score REAL, amount NUMERIC, data BLOB, anything, PRIMARY KEY (ws, n))`); err != nil {
		f.Fatal(err)
	}
	t, err := schema.Describe(conn, appschema.Table{Name: "items"})
	if err != nil {
		f.Fatal(err)
	}
	return &Server{cfg: Config{MaxPushBatch: 100}, info: store.Info{Version: 1, Tables: []*schema.Info{t}}}
}

// FuzzDecodeWriteBody feeds the write endpoint's decoder and converter
// hostile JSON: they must not panic, must produce only storable values
// and well-formed keys, and must digest the same request the same way.
func FuzzDecodeWriteBody(f *testing.F) {
	s := fuzzWriteServer(f)
	for _, seed := range []string{
		`{"changes":[{"table":"items","op":"upsert","values":{"ws":"a","n":1,"title":"Hi","score":2,"amount":1.5,"data":{"$base64":"AQI="},"anything":true}}]}`,
		`{"changes":[{"table":"items","op":"delete","key":{"ws":"a","n":1e2}}]}`,
		`{"changes":[{"table":"items","op":"delete","key":{"ws":"a","other":1}}]}`,
		`{"changes":[{"table":"ghosts","op":"upsert","values":{"x":[1,{"y":null}]}}]}`,
		`{"changes":[{"table":"items","op":"upsert","values":{"ws":"a","n":9223372036854775808,"score":-0.0}}]}`,
		`{"changes":[{"table":"items","op":"upsert","values":{"n":1e999999999}}]}`,
		`{"changes":[]} {}`,
		`[1,2,3]`,
	} {
		f.Add([]byte(seed))
	}
	emptyKey, _ := change.EncodeKey()
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := decodeWriteBody(b)
		if err != nil {
			return
		}
		req := WriteRequest{Principal: "service:fuzz", IdempotencyKey: "k", Changes: rows}
		w, err := s.prepareWrite(req)
		if err != nil {
			if _, ok := err.(*WriteError); !ok {
				t.Fatalf("prepareWrite error %T %v is not a *WriteError", err, err)
			}
			return
		}
		if len(w.changes) != len(rows) {
			t.Fatalf("%d changes for %d rows", len(w.changes), len(rows))
		}
		for _, ch := range w.changes {
			// A key decodes, or is empty (no key column named), which
			// the store refuses with BAD_KEY.
			if _, err := change.DecodeKey(ch.Key); err != nil && !bytes.Equal(ch.Key, emptyKey) {
				t.Fatalf("key %x: %v", ch.Key, err)
			}
			for name, v := range ch.Values {
				if err := change.CheckValue(v); err != nil {
					t.Fatalf("column %q: %v", name, err)
				}
			}
		}
		again, err := s.prepareWrite(req)
		if err != nil || again.digest != w.digest {
			t.Fatalf("the same request digested %s then %s (%v)", w.digest, again.digest, err)
		}
	})
}
