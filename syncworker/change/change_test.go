package change

import (
	"math"
	"testing"

	"github.com/hearthdb/hearth/codec"
)

func TestKeyRoundTripsExactly(t *testing.T) {
	keys := [][]any{
		{"t1"},
		{int64(7)},
		{int64(math.MaxInt64), "a\x00b"},
		{[]byte{0, 1, 2}, 1.5, nil},
	}
	for _, k := range keys {
		b, err := EncodeKey(k...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeKey(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(k) {
			t.Fatalf("%v: got %v", k, got)
		}
		for i := range k {
			if !Equal(got[i], k[i]) {
				t.Fatalf("%v: column %d got %#v", k, i, got[i])
			}
		}
	}
	if _, err := EncodeKey(true); err == nil {
		t.Fatal("a bool is not a storable key value")
	}
	if _, err := DecodeKey([]byte{0x06, 1, 0, 0, 0, 'x'}); err == nil {
		t.Fatal("a key must be an array")
	}
}

func TestValuesAreCanonical(t *testing.T) {
	vals := map[string]any{"b": int64(1), "a": "x", "c": nil, "d": []byte("z"), "e": 2.5}
	e1, e2 := encode(t, vals), encode(t, map[string]any{"e": 2.5, "d": []byte("z"), "c": nil, "a": "x", "b": int64(1)})
	if string(e1) != string(e2) {
		t.Fatal("equal maps must encode to equal bytes")
	}
	got, err := DecodeValues(e1)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range vals {
		if !Equal(got[k], v) {
			t.Fatalf("%s: got %#v want %#v", k, got[k], v)
		}
	}
	if _, err := ValuesFrom(map[string]any{"x": true}); err == nil {
		t.Fatal("bools are not storable")
	}
	if _, err := ParseOp("X"); err == nil {
		t.Fatal("unknown op")
	}
}

func encode(t *testing.T, m map[string]any) []byte {
	t.Helper()
	var enc codec.Encoder
	if err := EncodeValues(&enc, m); err != nil {
		t.Fatal(err)
	}
	return enc.Bytes()
}
