package protocol

import (
	"testing"

	"github.com/hearthdb/hearth/codec"
)

// FuzzParseRequest feeds ParseRequest what a page could post to the
// worker. It must not panic; a request it accepts carries the id, op and
// db handle it read; a request it refuses gets BAD_REQUEST, answered to
// its id when it had one, in a reply the page can decode.
func FuzzParseRequest(f *testing.F) {
	for _, msg := range []any{
		map[string]any{"v": int64(1), "id": int64(1), "op": "open", "name": "app.db"},
		map[string]any{"v": int64(1), "id": int64(2), "op": "exec", "db": int64(1), "sql": "INSERT INTO t VALUES (?)", "params": []any{int64(1)}},
		map[string]any{"v": int64(1), "id": int64(3), "op": "batch", "db": int64(1), "statements": []any{map[string]any{"sql": "SELECT 1"}}},
		map[string]any{"v": int64(1), "id": int64(4), "op": "network", "online": true},
		map[string]any{"v": int64(2), "id": int64(5), "op": "open"},
		map[string]any{"v": int64(1), "id": "6", "op": "open"},
		[]any{int64(1)},
	} {
		b, err := codec.Encode(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		req, hasID, perr := ParseRequest(msg)
		if perr == nil {
			if !hasID || req.Fields["id"] != req.ID || req.Fields["op"] != req.Op {
				t.Fatalf("%x: accepted as %+v, hasID %v", msg, req, hasID)
			}
			if db, ok := req.Fields["db"].(int64); ok && db != req.DB {
				t.Fatalf("%x: db %d read as %d", msg, db, req.DB)
			}
			return
		}
		if perr.Code != CodeBadRequest {
			t.Fatalf("%x: refused with %s, want %s", msg, perr.Code, CodeBadRequest)
		}
		if hasID && req.Fields["id"] != req.ID {
			t.Fatalf("%x: refused with id %d, but its id field is %v", msg, req.ID, req.Fields["id"])
		}
		var e codec.Encoder
		var id *int64
		if hasID {
			id = &req.ID
		}
		EncodeError(&e, id, perr)
		reply, err := codec.Decode(e.Bytes())
		if err != nil {
			t.Fatalf("%x: the error reply does not decode: %v", msg, err)
		}
		fields := reply.(map[string]any)
		if fields["error"].(map[string]any)["code"] != CodeBadRequest || hasID && fields["id"] != req.ID || !hasID && fields["id"] != nil {
			t.Fatalf("%x: error reply %v", msg, reply)
		}
	})
}
