package wire

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

// sampleInsert writes a value of every storage class.
func sampleInsert(tb testing.TB) change.Change {
	tb.Helper()
	key, err := change.EncodeKey("t1")
	if err != nil {
		tb.Fatal(err)
	}
	return change.Change{Table: "tasks", Key: key, Op: change.Insert,
		Values: map[string]any{"i": int64(math.MinInt64), "f": 0.1, "s": "a\x00é", "b": []byte{0, 255}, "n": nil},
		Stamp:  hlc.Stamp{TS: hlc.Make(1_700_000_000_000, 3), Node: "n1"}, Schema: 2}
}

// sampleMessages holds every message type, with the optional fields both
// set and not.
func sampleMessages(tb testing.TB) []Message {
	ins := sampleInsert(tb)
	key := ins.Key
	del := change.Change{Table: "tasks", Key: key, Op: change.Delete, Values: map[string]any{}, Stamp: hlc.Stamp{TS: 9, Node: "n2"}, Schema: 2}
	return []Message{
		Hello{Client: "c1", Cursor: -1},
		Hello{Client: "c1", Cursor: 3, Scopes: []string{"w1", "w2"}},
		Hello{Client: "c1", Cursor: 3, Scopes: []string{}},
		Welcome{Server: "s", Head: 5, Min: 1, Max: 3, MaxMessage: 1 << 20},
		Push{ID: 7, Changes: []Pushed{{Seq: 1, Change: ins}, {Seq: 2, Change: del}}},
		Ack{Re: 7, Results: []Result{{Seq: 1, State: Acknowledged, Pos: 10}, {Seq: 2, State: Refused, Code: "FORBIDDEN", Detail: "no", Row: []change.Change{ins, del}}}},
		Subscribe{After: 42},
		Changes{Upto: 12, Head: 20, Entries: []Entry{{Pos: 11, Change: ins}, {Pos: 12, Change: del}}},
		Changes{Upto: 13, Head: 20, Evict: []SnapshotCursor{{Table: "tasks", Key: key}}},
		SnapshotRequest{ID: 3, At: 0, Limit: 500},
		SnapshotRequest{ID: 3, At: -1, Limit: 500, Scopes: []string{"w2"}},
		SnapshotRequest{ID: 4, At: 9, After: SnapshotCursor{Table: "tasks", Key: key}, Limit: 500},
		Chunk{Re: 4, At: 9, Changes: []change.Change{ins}, Rows: 1, Total: 10, Next: SnapshotCursor{Table: "tasks", Key: key}},
		Chunk{Re: 5, At: 9, Done: true},
		ChecksumRequest{ID: 8},
		Checksums{Re: 8, Pos: 12, Tables: map[string]TableSum{"tasks": {Rows: 3, Hash: math.MaxUint64}}},
		Ping{ID: 1},
		Pong{Re: 1},
		&Error{Re: 7, Code: CodeSchemaMismatch, Message: "m", Min: 2, Max: 3},
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	ins := sampleInsert(t)
	var packed codec.Encoder
	change.EncodeValues(&packed, ins.Values)
	for _, m := range sampleMessages(t) {
		b, err := Encode(m, 2)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		f, err := Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if f.Schema != 2 || !reflect.DeepEqual(f.Msg, m) {
			t.Fatalf("%T round trip:\n got %#v\nwant %#v", m, f.Msg, m)
		}
	}
	// Packed values are sent as they are.
	b, err := Encode(Push{ID: 1, Changes: []Pushed{{Seq: 1, Change: ins, Packed: packed.Bytes()}}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil || !reflect.DeepEqual(f.Msg.(Push).Changes[0].Change, ins) {
		t.Fatalf("packed push: %v %#v", err, f.Msg)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	enc := func(v any) []byte {
		b, err := codec.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := map[string][]byte{
		"garbage":      {0xff, 0x00},
		"not a map":    enc([]any{"x"}),
		"no type":      enc(map[string]any{"v": int64(1), "s": int64(1)}),
		"unknown type": enc(map[string]any{"v": int64(1), "t": "nope", "s": int64(1)}),
		"bad field":    enc(map[string]any{"v": int64(1), "t": "sub", "s": int64(1), "after": "x"}),
		"bad change": enc(map[string]any{"v": int64(1), "t": "push", "s": int64(1), "id": int64(1),
			"changes": []any{[]any{int64(1), "t", []byte{1}, "X", nil, int64(1), "n", int64(1)}}}),
		"bad value": enc(map[string]any{"v": int64(1), "t": "push", "s": int64(1), "id": int64(1),
			"changes": []any{[]any{int64(1), "t", []byte{1}, "U", map[string]any{"c": true}, int64(1), "n", int64(1)}}}),
	}
	for name, b := range bad {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
	if _, err := Decode(enc(map[string]any{"v": int64(2), "t": "sub", "s": int64(1)})); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2: %v", err)
	}
}
